# Databricks notebook source
# MAGIC %md
# MAGIC # Just-in-time pipeline 4/4: publish
# MAGIC
# MAGIC Publishes the `run_date`'s summary per site and production line from `jit.enriched_readings` (written by
# MAGIC `03_enrich`) into `jit.site_daily_summary`, the table consumers read, replacing that day's rows.

# COMMAND ----------

dbutils.widgets.text("run_date", "", "Run date (YYYY-MM-DD; empty: today)")

# COMMAND ----------

import json
from datetime import date

from pyspark.sql import functions as F

run_date = date.fromisoformat(dbutils.widgets.get("run_date").strip() or date.today().isoformat())
enriched = spark.table("jit.enriched_readings").where(F.col("run_date") == F.lit(run_date))
if enriched.isEmpty():
    raise RuntimeError(f"jit.enriched_readings has no rows for {run_date}: run 03_enrich for that date first")

# COMMAND ----------

summary = (enriched
           .groupBy("run_date", "site", "line")
           .agg(F.countDistinct("device_id").alias("devices"),
                F.count("*").alias("readings"),
                F.round(F.avg("temperature_c"), 2).alias("avg_temperature_c"),
                F.round(F.max("temperature_c"), 2).alias("max_temperature_c"),
                F.round(F.max("vibration_mm_s"), 3).alias("max_vibration_mm_s"),
                F.sum(F.col("over_limit").cast("int")).alias("readings_over_limit"))
           .withColumn("published_at", F.current_timestamp()))

(summary.write.format("delta")
 .mode("overwrite")
 .option("replaceWhere", f"run_date = '{run_date.isoformat()}'")
 .saveAsTable("jit.site_daily_summary"))

display(summary.orderBy("site", "line"))
dbutils.notebook.exit(json.dumps({"run_date": run_date.isoformat(), "rows": summary.count()}))
