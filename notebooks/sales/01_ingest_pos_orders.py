# Databricks notebook source
# MAGIC %md
# MAGIC # Sales pipeline 1/3: ingest point-of-sale orders
# MAGIC
# MAGIC Job `sales-pipeline`, task `ingest`: lands the point-of-sale orders of one `region` from the
# MAGIC `source_container` into `bronze.pos_orders`, replacing that region's rows (a rerun is idempotent).
# MAGIC The orders are **sample data**: a week of orders of the region's stores, the same on every run of a day.

# COMMAND ----------

dbutils.widgets.text("region", "emea", "Region")
dbutils.widgets.text("source_container", "raw-pos-orders", "Landing container")

# COMMAND ----------

import random
from datetime import date, datetime, time, timedelta

from pyspark.sql import functions as F

STORES = {  # region -> (store id, name, country, currency)
    "emea": [("AMS-01", "Amsterdam Centraal", "NL", "EUR"), ("BER-01", "Berlin Mitte", "DE", "EUR"),
             ("LON-01", "London Soho", "GB", "GBP")],
    "amer": [("NYC-01", "New York Chelsea", "US", "USD"), ("TOR-01", "Toronto Queen St", "CA", "CAD")],
    "apac": [("TYO-01", "Tokyo Shibuya", "JP", "JPY"), ("SYD-01", "Sydney Surry Hills", "AU", "AUD")],
}
PRODUCTS = [  # product id, name, category, price in EUR
    ("P-100", "Espresso", "coffee", 2.40), ("P-101", "Flat white", "coffee", 3.60),
    ("P-200", "Croissant", "bakery", 2.10), ("P-201", "Banana bread", "bakery", 3.20),
    ("P-300", "Espresso beans 250 g", "retail", 9.90),
]
PRICE_FACTOR = {"EUR": 1.0, "GBP": 0.86, "USD": 1.08, "CAD": 1.47, "JPY": 162.0, "AUD": 1.64}

region = dbutils.widgets.get("region").strip().lower()
source_container = dbutils.widgets.get("source_container").strip()
if region not in STORES:
    raise ValueError(f"region must be one of {', '.join(sorted(STORES))}, got {region!r}")

# COMMAND ----------


def sample_orders(region: str, today: date) -> list[tuple]:
    """A week of orders per store; seeded by region and day, so a rerun on the same day lands the same rows."""
    rng = random.Random(f"{region}/{today.isoformat()}")
    rows = []
    for store_id, _name, _country, currency in STORES[region]:
        for days_ago in range(7):
            day = today - timedelta(days=days_ago)
            for number in range(rng.randint(8, 15)):
                order_id = f"{store_id}-{day:%Y%m%d}-{number:04d}"
                ordered_at = datetime.combine(day, time(7)) + timedelta(minutes=rng.randint(0, 12 * 60))
                basket = rng.sample(PRODUCTS, rng.randint(1, 3))
                for line_no, (product_id, product, category, price) in enumerate(basket, start=1):
                    unit_price = round(price * PRICE_FACTOR[currency], 2)
                    rows.append((order_id, line_no, store_id, region, ordered_at, product_id, product, category,
                                 rng.randint(1, 4), unit_price, currency))
    return rows


schema = ("order_id string, line_no int, store_id string, region string, ordered_at timestamp, product_id string, "
          "product_name string, category string, quantity int, unit_price double, currency string")
stores = spark.createDataFrame(STORES[region], "store_id string, store_name string, country string, currency string")
orders = (spark.createDataFrame(sample_orders(region, date.today()), schema)
          .join(stores.select("store_id", "store_name", "country"), "store_id")
          .withColumn("unit_price", F.col("unit_price").cast("decimal(18,2)"))
          .withColumn("_source_container", F.lit(source_container))
          .withColumn("_ingested_at", F.current_timestamp()))

# COMMAND ----------

spark.sql("CREATE SCHEMA IF NOT EXISTS bronze")
(orders.write.format("delta")
 .mode("overwrite")
 .option("replaceWhere", f"region = '{region}'")
 .saveAsTable("bronze.pos_orders"))

display(spark.table("bronze.pos_orders").where(F.col("region") == region)
        .groupBy("store_id").agg(F.countDistinct("order_id").alias("orders"), F.sum("quantity").alias("units")))
