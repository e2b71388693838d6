# Databricks notebook source
# MAGIC %md
# MAGIC # Just-in-time pipeline 1/4: extract
# MAGIC
# MAGIC First of the four chained notebook activities of the Data Factory just-in-time pipeline, on the warm pool.
# MAGIC Extracts the `run_date`'s machine telemetry into `jit.raw_readings`, replacing that day's rows. The
# MAGIC readings are **sample data**, the same for a given date on every run, with the faults real feeds have
# MAGIC (missing values, repeated readings, a sensor out of range) so the next step has something to clean.

# COMMAND ----------

dbutils.widgets.text("run_date", "", "Run date (YYYY-MM-DD; empty: today)")

# COMMAND ----------

from datetime import date

from pyspark.sql import functions as F

run_date = date.fromisoformat(dbutils.widgets.get("run_date").strip() or date.today().isoformat())
seed = int(run_date.strftime("%Y%m%d"))

# COMMAND ----------

# 12 devices, one reading every 15 minutes: 1152 readings, one partition so the seeded values are stable.
readings = (spark.range(0, 12 * 96, numPartitions=1)
            .select((F.col("id") % 12 + 1).alias("device_number"), (F.col("id") / 12).cast("int").alias("slot"))
            .select(F.format_string("DEV-%03d", "device_number").alias("device_id"),
                    F.timestamp_seconds(F.unix_timestamp(F.lit(run_date.isoformat()), "yyyy-MM-dd")
                                        + F.col("slot") * 900).alias("read_at"),
                    (F.lit(55.0) + F.rand(seed) * 20).alias("temperature_c"),
                    (F.rand(seed + 1) * 4).alias("vibration_mm_s"),
                    F.col("slot")))
faulty = (readings
          # every 50th reading lost its temperature; DEV-007 reports an impossible value at 13:00
          .withColumn("temperature_c", F.when(F.col("slot") % 50 == 0, F.lit(None)).otherwise(F.col("temperature_c")))
          .withColumn("temperature_c", F.when((F.col("device_id") == "DEV-007") & (F.col("slot") == 52), 999.0)
                      .otherwise(F.col("temperature_c"))))
raw = (faulty.unionByName(faulty.where(F.col("slot") % 40 == 0))  # the feed repeats some readings
       .drop("slot")
       .withColumn("run_date", F.lit(run_date))
       .withColumn("_extracted_at", F.current_timestamp()))

# COMMAND ----------

spark.sql("CREATE SCHEMA IF NOT EXISTS jit")
(raw.write.format("delta")
 .mode("overwrite")
 .option("replaceWhere", f"run_date = '{run_date.isoformat()}'")
 .saveAsTable("jit.raw_readings"))

dbutils.notebook.exit(str(spark.table("jit.raw_readings").where(F.col("run_date") == F.lit(run_date)).count()))
