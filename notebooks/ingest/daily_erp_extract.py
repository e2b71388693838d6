# Databricks notebook source
# MAGIC %md
# MAGIC # Daily ERP extract to bronze
# MAGIC
# MAGIC Job `daily-ingest`: loads the day's extract of an ERP system (`source`, e.g. `sap-erp`) into the bronze
# MAGIC layer (`target_layer`), one Delta table per source system. The day's rows are replaced, so a rerun is
# MAGIC idempotent. The extract is **sample data** built below (sales document lines as SAP exports them);
# MAGIC replace `read_extract` with a read of the landing container to load real files.

# COMMAND ----------

dbutils.widgets.text("source", "sap-erp", "Source system")
dbutils.widgets.text("target_layer", "bronze", "Target layer (schema)")
dbutils.widgets.text("extract_date", "", "Extract date (YYYY-MM-DD; empty: today)")

# COMMAND ----------

import json
import re
from datetime import date

from pyspark.sql import functions as F

source_system = dbutils.widgets.get("source").strip()
target_layer = dbutils.widgets.get("target_layer").strip()
extract_date = date.fromisoformat(dbutils.widgets.get("extract_date").strip() or date.today().isoformat())

# Widget values become schema and table names: accept plain names only.
if not re.fullmatch(r"[a-z][a-z0-9-]{0,62}", source_system):
    raise ValueError(f"source must be a lower-case system name such as sap-erp, got {source_system!r}")
if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", target_layer):
    raise ValueError(f"target_layer must be a schema name such as bronze, got {target_layer!r}")
target_table = f"{target_layer}.{source_system.replace('-', '_')}_extract"

# COMMAND ----------


def read_extract(extract_date: date):
    """Sample extract: sales document lines (VBAP-like) posted on the extract date."""
    lines = [
        ("0090001001", 10, "MAT-1001", "Espresso beans 1 kg", "NL01", "emea", 40, 559.60, "EUR"),
        ("0090001001", 20, "MAT-2001", "Grinder C40", "NL01", "emea", 2, 479.80, "EUR"),
        ("0090001002", 10, "MAT-1002", "Filter beans 1 kg", "DE01", "emea", 25, 274.75, "EUR"),
        ("0090001003", 10, "MAT-1001", "Espresso beans 1 kg", "GB01", "emea", 30, 359.70, "GBP"),
        ("0090001004", 10, "MAT-3001", "Milk jug 0.6 l", "US01", "amer", 12, 215.88, "USD"),
        ("0090001004", 20, "MAT-1002", "Filter beans 1 kg", "US01", "amer", 50, 649.50, "USD"),
    ]
    schema = ("document_id string, item int, material string, material_text string, plant string, region string, "
              "quantity int, net_amount double, currency string")
    return (spark.createDataFrame(lines, schema)
            .withColumn("net_amount", F.col("net_amount").cast("decimal(18,2)"))
            .withColumn("posting_date", F.lit(extract_date)))


bronze = (read_extract(extract_date)
          .withColumn("_source_system", F.lit(source_system))
          .withColumn("_extract_date", F.lit(extract_date))
          .withColumn("_ingested_at", F.current_timestamp()))

# COMMAND ----------

spark.sql(f"CREATE SCHEMA IF NOT EXISTS {target_layer}")
(bronze.write.format("delta")
 .mode("overwrite")
 .option("replaceWhere", f"_extract_date = '{extract_date.isoformat()}'")
 .saveAsTable(target_table))

loaded = spark.table(target_table).where(F.col("_extract_date") == F.lit(extract_date))
display(loaded.groupBy("region", "currency").agg(F.count("*").alias("lines"), F.sum("net_amount").alias("net_amount")))

# COMMAND ----------

dbutils.notebook.exit(json.dumps({"table": target_table, "extract_date": extract_date.isoformat(),
                                  "rows": loaded.count()}))
