# Databricks notebook source
# MAGIC %md
# MAGIC # Sales pipeline 2/3: build the sales model
# MAGIC
# MAGIC Job `sales-pipeline`, task `transform`: turns the region's rows of `bronze.pos_orders` into a small star
# MAGIC schema in `silver`: `fact_sales` (one row per order line, amounts also in EUR), `dim_store`,
# MAGIC `dim_product`, and the `fx_rates` the amounts were converted with (sample reference rates).

# COMMAND ----------

dbutils.widgets.text("region", "emea", "Region")

# COMMAND ----------

from pyspark.sql import functions as F

region = dbutils.widgets.get("region").strip().lower()
if not spark.catalog.tableExists("bronze.pos_orders"):
    raise RuntimeError("bronze.pos_orders does not exist: run the ingest task (01_ingest_pos_orders) first")
orders = spark.table("bronze.pos_orders").where(F.col("region") == region)
if orders.isEmpty():
    raise RuntimeError(f"bronze.pos_orders has no rows for region {region!r}: run the ingest task for it first")

spark.sql("CREATE SCHEMA IF NOT EXISTS silver")

# COMMAND ----------

# Sample reference rates: EUR per unit of each currency.
fx_rates = spark.createDataFrame(
    [("EUR", 1.0), ("GBP", 1.1628), ("USD", 0.9259), ("CAD", 0.6803), ("JPY", 0.006173), ("AUD", 0.6098)],
    "currency string, eur_per_unit double",
).withColumn("eur_per_unit", F.col("eur_per_unit").cast("decimal(18,6)"))
fx_rates.write.format("delta").mode("overwrite").saveAsTable("silver.fx_rates")

# COMMAND ----------

# Bronze keeps whatever arrived; the model keeps each order line once and only sensible quantities.
lines = (orders
         .where(F.col("product_id").isNotNull() & (F.col("quantity") > 0))
         .dropDuplicates(["order_id", "line_no"]))

fact_sales = (lines
              .join(fx_rates, "currency", "left")
              .select(F.to_date("ordered_at").alias("order_date"), "order_id", "line_no", "store_id", "region",
                      "product_id", "quantity", "unit_price", "currency",
                      (F.col("quantity") * F.col("unit_price")).cast("decimal(18,2)").alias("amount"),
                      (F.col("quantity") * F.col("unit_price") * F.col("eur_per_unit"))
                      .cast("decimal(18,2)").alias("amount_eur")))
missing_rates = fact_sales.where(F.col("amount_eur").isNull()).select("currency").distinct().collect()
if missing_rates:
    raise RuntimeError(f"no FX rate for {sorted(row.currency for row in missing_rates)}; add them to fx_rates")

(fact_sales.write.format("delta")
 .mode("overwrite")
 .option("replaceWhere", f"region = '{region}'")
 .saveAsTable("silver.fact_sales"))

# Dimensions come from every region's orders, so rebuilding them for one region keeps the others' rows.
all_orders = spark.table("bronze.pos_orders")
(all_orders.select("store_id", "store_name", "country", "region").dropDuplicates(["store_id"])
 .write.format("delta").mode("overwrite").saveAsTable("silver.dim_store"))
(all_orders.select("product_id", "product_name", "category").dropDuplicates(["product_id"])
 .write.format("delta").mode("overwrite").saveAsTable("silver.dim_product"))

display(spark.table("silver.fact_sales").where(F.col("region") == region)
        .groupBy("order_date").agg(F.sum("amount_eur").alias("revenue_eur")).orderBy("order_date"))
