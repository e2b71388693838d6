# Databricks notebook source
# MAGIC %md
# MAGIC # Nightly sales report
# MAGIC
# MAGIC Job `nightly-sales-report`: aggregates one day's sales per region (`report_date`: `yesterday` or a date)
# MAGIC into `reporting.daily_sales_by_region`, the table behind the sales dashboard, in the report `currency`.
# MAGIC It reads `reporting.sales_by_day`, which the `sales-pipeline` job publishes, and the rates in
# MAGIC `silver.fx_rates`. The day's rows are replaced, so a rerun is idempotent.

# COMMAND ----------

dbutils.widgets.text("report_date", "yesterday", "Report date (yesterday or YYYY-MM-DD)")
dbutils.widgets.text("currency", "EUR", "Report currency")

# COMMAND ----------

import json
from datetime import date, timedelta

from pyspark.sql import functions as F

requested_date = dbutils.widgets.get("report_date").strip().lower()
report_date = date.today() - timedelta(days=1) if requested_date == "yesterday" else date.fromisoformat(requested_date)
currency = dbutils.widgets.get("currency").strip().upper()

for table, producer in (("reporting.sales_by_day", "sales-pipeline"), ("silver.fx_rates", "sales-pipeline")):
    if not spark.catalog.tableExists(table):
        raise RuntimeError(f"{table} does not exist: run the {producer} job first")
rate = spark.table("silver.fx_rates").where(F.col("currency") == currency).select("eur_per_unit").collect()
if not rate:
    known = sorted(row.currency for row in spark.table("silver.fx_rates").select("currency").collect())
    raise ValueError(f"currency {currency!r} has no rate in silver.fx_rates; known: {', '.join(known)}")
eur_per_unit = rate[0].eur_per_unit

# COMMAND ----------

report = (spark.table("reporting.sales_by_day")
          .where(F.col("order_date") == F.lit(report_date))
          .groupBy("order_date", "region")
          .agg(F.countDistinct("store_id").alias("stores"),
               F.sum("orders").alias("orders"),
               F.sum("units").alias("units"),
               F.sum("revenue_eur").alias("revenue_eur"))
          .withColumn("currency", F.lit(currency))
          .withColumn("revenue", (F.col("revenue_eur") / F.lit(eur_per_unit)).cast("decimal(18,2)"))
          .withColumn("average_order_value", (F.col("revenue") / F.col("orders")).cast("decimal(18,2)"))
          .withColumn("reported_at", F.current_timestamp()))

(report.write.format("delta")
 .mode("overwrite")
 .option("replaceWhere", f"order_date = '{report_date.isoformat()}'")
 .saveAsTable("reporting.daily_sales_by_region"))

display(report.orderBy("region"))

# COMMAND ----------

dbutils.notebook.exit(json.dumps({"report_date": report_date.isoformat(), "currency": currency,
                                  "regions": report.count()}))
