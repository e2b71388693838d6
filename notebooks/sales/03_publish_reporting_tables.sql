-- Databricks notebook source
-- MAGIC %md
-- MAGIC # Sales pipeline 3/3: publish the reporting tables
-- MAGIC
-- MAGIC Job `sales-pipeline`, task `publish`: publishes the region's sales from the `silver` model into
-- MAGIC `target_schema` (`reporting`): `sales_by_day` (per store and day) and `sales_by_product` (per product
-- MAGIC and day), replacing the region's rows. Widget values are read as parameter markers (`:region`),
-- MAGIC which needs Databricks Runtime 15.2 or later.

-- COMMAND ----------

CREATE WIDGET TEXT region DEFAULT 'emea';
CREATE WIDGET TEXT target_schema DEFAULT 'reporting';

-- COMMAND ----------

CREATE SCHEMA IF NOT EXISTS IDENTIFIER(:target_schema);

CREATE TABLE IF NOT EXISTS IDENTIFIER(:target_schema || '.sales_by_day') (
  order_date DATE, region STRING, store_id STRING, store_name STRING, country STRING,
  orders BIGINT, units BIGINT, revenue_eur DECIMAL(18, 2), published_at TIMESTAMP
);

CREATE TABLE IF NOT EXISTS IDENTIFIER(:target_schema || '.sales_by_product') (
  order_date DATE, region STRING, product_id STRING, product_name STRING, category STRING,
  units BIGINT, revenue_eur DECIMAL(18, 2), published_at TIMESTAMP
);

-- COMMAND ----------

INSERT INTO IDENTIFIER(:target_schema || '.sales_by_day') REPLACE WHERE region = :region
SELECT f.order_date, f.region, f.store_id, s.store_name, s.country,
       COUNT(DISTINCT f.order_id) AS orders,
       SUM(f.quantity) AS units,
       CAST(SUM(f.amount_eur) AS DECIMAL(18, 2)) AS revenue_eur,
       current_timestamp() AS published_at
FROM silver.fact_sales AS f
JOIN silver.dim_store AS s ON s.store_id = f.store_id
WHERE f.region = :region
GROUP BY f.order_date, f.region, f.store_id, s.store_name, s.country;

-- COMMAND ----------

INSERT INTO IDENTIFIER(:target_schema || '.sales_by_product') REPLACE WHERE region = :region
SELECT f.order_date, f.region, f.product_id, p.product_name, p.category,
       SUM(f.quantity) AS units,
       CAST(SUM(f.amount_eur) AS DECIMAL(18, 2)) AS revenue_eur,
       current_timestamp() AS published_at
FROM silver.fact_sales AS f
JOIN silver.dim_product AS p ON p.product_id = f.product_id
WHERE f.region = :region
GROUP BY f.order_date, f.region, f.product_id, p.product_name, p.category;

-- COMMAND ----------

SELECT order_date, SUM(orders) AS orders, SUM(revenue_eur) AS revenue_eur
FROM IDENTIFIER(:target_schema || '.sales_by_day')
WHERE region = :region
GROUP BY order_date
ORDER BY order_date;
