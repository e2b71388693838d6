# Databricks notebook source
# MAGIC %md
# MAGIC # Just-in-time pipeline 2/4: transform
# MAGIC
# MAGIC Cleans the `run_date`'s rows of `jit.raw_readings` (written by `01_extract`) into `jit.clean_readings`:
# MAGIC one reading per device and time, no missing values, temperatures in the sensors' range (-40 to 150 °C).

# COMMAND ----------

dbutils.widgets.text("run_date", "", "Run date (YYYY-MM-DD; empty: today)")

# COMMAND ----------

from datetime import date

from pyspark.sql import functions as F

run_date = date.fromisoformat(dbutils.widgets.get("run_date").strip() or date.today().isoformat())
raw = spark.table("jit.raw_readings").where(F.col("run_date") == F.lit(run_date))
if raw.isEmpty():
    raise RuntimeError(f"jit.raw_readings has no rows for {run_date}: run 01_extract for that date first")

# COMMAND ----------

clean = (raw
         .dropDuplicates(["device_id", "read_at"])
         .where(F.col("temperature_c").isNotNull() & F.col("vibration_mm_s").isNotNull())
         .where(F.col("temperature_c").between(-40, 150))
         .select("device_id", "read_at",
                 F.round("temperature_c", 2).alias("temperature_c"),
                 F.round("vibration_mm_s", 3).alias("vibration_mm_s"),
                 "run_date"))

(clean.write.format("delta")
 .mode("overwrite")
 .option("replaceWhere", f"run_date = '{run_date.isoformat()}'")
 .saveAsTable("jit.clean_readings"))

kept = spark.table("jit.clean_readings").where(F.col("run_date") == F.lit(run_date)).count()
print(f"{raw.count()} raw readings, {kept} kept")
dbutils.notebook.exit(str(kept))
