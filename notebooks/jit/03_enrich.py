# Databricks notebook source
# MAGIC %md
# MAGIC # Just-in-time pipeline 3/4: enrich
# MAGIC
# MAGIC Adds to the `run_date`'s rows of `jit.clean_readings` (written by `02_transform`) where each device stands
# MAGIC and its alarm limits, from the device register `jit.devices` (sample reference data, written here when it
# MAGIC does not exist yet), and flags readings over the limits, into `jit.enriched_readings`.

# COMMAND ----------

dbutils.widgets.text("run_date", "", "Run date (YYYY-MM-DD; empty: today)")

# COMMAND ----------

from datetime import date

from pyspark.sql import functions as F

run_date = date.fromisoformat(dbutils.widgets.get("run_date").strip() or date.today().isoformat())
clean = spark.table("jit.clean_readings").where(F.col("run_date") == F.lit(run_date))
if clean.isEmpty():
    raise RuntimeError(f"jit.clean_readings has no rows for {run_date}: run 02_transform for that date first")

# COMMAND ----------

if not spark.catalog.tableExists("jit.devices"):
    sites = ["Rotterdam", "Rotterdam", "Rotterdam", "Eindhoven", "Eindhoven", "Eindhoven",
             "Gdansk", "Gdansk", "Gdansk", "Porto", "Porto", "Porto"]
    devices = [(f"DEV-{number:03d}", site, f"line-{(number - 1) % 3 + 1}", 72.0, 3.5)
               for number, site in enumerate(sites, start=1)]
    (spark.createDataFrame(devices, "device_id string, site string, line string, max_temperature_c double, "
                                    "max_vibration_mm_s double")
     .write.format("delta").saveAsTable("jit.devices"))

# COMMAND ----------

devices = spark.table("jit.devices")
enriched = (clean.join(devices, "device_id", "left")
            .withColumn("site", F.coalesce("site", F.lit("unregistered")))
            .withColumn("over_limit", F.coalesce((F.col("temperature_c") > F.col("max_temperature_c"))
                                                 | (F.col("vibration_mm_s") > F.col("max_vibration_mm_s")),
                                                 F.lit(False))))

(enriched.write.format("delta")
 .mode("overwrite")
 .option("replaceWhere", f"run_date = '{run_date.isoformat()}'")
 .saveAsTable("jit.enriched_readings"))

dbutils.notebook.exit(str(enriched.where("over_limit").count()))
