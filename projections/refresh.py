"""Per-customer rows recomputed in SQL for the customers a batch touched (``customer_360``,
``ec.leads``), and the data-health table."""

from __future__ import annotations

from typing import Final

import duckdb

from adapters.crypto import ERASED_TEXT  # what an erased text reads as, everywhere
from projections.schema import LEAD_CHANNELS_SQL


def refresh_data_health(connection: duckdb.DuckDBPyConnection) -> None:
    """Null rate per core field overall, and each import batch's own figures."""
    connection.execute("DELETE FROM data_health")
    connection.execute(DATA_HEALTH_SQL)


# Recomputes the per-customer rows of the customers in the temp table ``touched``.
REFRESH_SQL: Final = f"""
DELETE FROM customer_360 WHERE customer_id IN (SELECT customer_id FROM touched);
DELETE FROM ec.leads WHERE customer_id IN (SELECT customer_id FROM touched);
CREATE OR REPLACE TEMP TABLE tp AS
  SELECT * FROM touchpoints WHERE customer_id IN (SELECT customer_id FROM touched)
    AND touchpoint_id NOT IN (SELECT touchpoint_id FROM ec.retractions);
CREATE OR REPLACE TEMP TABLE live AS
  SELECT * FROM ec.customers WHERE customer_id IN (SELECT customer_id FROM touched) AND merged_into IS NULL;
INSERT INTO ec.leads
  WITH lead AS (
    SELECT customer_id, channel, occurred_at AS lead_at, touchpoint_id AS lead_tp FROM tp
    WHERE direction = 'inbound' AND channel IN {LEAD_CHANNELS_SQL}
    QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY occurred_at, touchpoint_id) = 1),
  response AS (
    SELECT l.customer_id, min(t.occurred_at) AS first_response_at FROM lead l JOIN tp t USING (customer_id)
    WHERE t.direction = 'outbound'
      AND (t.occurred_at > l.lead_at OR (t.occurred_at = l.lead_at AND t.touchpoint_id > l.lead_tp))
    GROUP BY l.customer_id)
  SELECT l.customer_id, l.channel, l.lead_at, r.first_response_at,
         coalesce(r.first_response_at <= l.lead_at + INTERVAL 7 DAY, false), c.owner_agent_id
  FROM lead l JOIN live c USING (customer_id) LEFT JOIN response r USING (customer_id);
INSERT INTO customer_360 (customer_id, display_name, company, city, industry, owner_agent_id, stage, tags,
                          identities, first_touch_channel, first_touch_at, first_response_at, last_touch_at,
                          touch_count, merged_from, erased, budget_cny)
  WITH chain AS (
    SELECT customer_id, count(*)::INTEGER AS touch_count, max(occurred_at) AS last_touch_at,
           first(channel ORDER BY occurred_at, touchpoint_id) AS first_touch_channel,
           min(occurred_at) AS first_touch_at
    FROM tp GROUP BY customer_id),
  wide AS (  -- each field's latest value in event time
    SELECT customer_id,
           arg_max(value, (occurred_at, touchpoint_id)) FILTER (WHERE field = 'name') AS name,
           arg_max(value, (occurred_at, touchpoint_id)) FILTER (WHERE field = 'company') AS company,
           arg_max(value, (occurred_at, touchpoint_id)) FILTER (WHERE field = 'city') AS city,
           arg_max(value, (occurred_at, touchpoint_id)) FILTER (WHERE field = 'industry') AS industry,
           arg_max(TRY_CAST(value AS DOUBLE), (occurred_at, touchpoint_id))
             FILTER (WHERE field = 'budget_cny') AS budget_cny
    FROM ec.observations WHERE customer_id IN (SELECT customer_id FROM touched) GROUP BY customer_id),
  ids AS (
    SELECT customer_id, list(DISTINCT identity_key ORDER BY identity_key) AS identities
    FROM ec.identities WHERE customer_id IN (SELECT customer_id FROM touched) GROUP BY customer_id),
  merged AS (
    SELECT survivor_id AS customer_id, list(absorbed_id::VARCHAR ORDER BY absorbed_id) AS merged_from
    FROM ec.merges WHERE survivor_id IN (SELECT customer_id FROM touched) GROUP BY survivor_id)
  SELECT c.customer_id,
         CASE WHEN c.erased THEN '{ERASED_TEXT}' ELSE coalesce(w.name, w.company, '(unknown)') END,
         w.company, w.city, w.industry, c.owner_agent_id,
         -- stages that follow from recorded facts: a lead is 'lead', a recorded first response
         -- makes it 'contacted'; a stage moved by hand (with evidence) beyond those stands
         CASE WHEN coalesce(c.stage, 'lead') = 'lead' AND l.first_response_at IS NOT NULL THEN 'contacted'
              ELSE coalesce(c.stage, CASE WHEN l.lead_at IS NOT NULL THEN 'lead' END) END,
         coalesce(c.tags, []), coalesce(i.identities, []), ch.first_touch_channel, ch.first_touch_at,
         l.first_response_at, ch.last_touch_at, coalesce(ch.touch_count, 0), coalesce(m.merged_from, []),
         c.erased, CASE WHEN c.erased THEN NULL ELSE w.budget_cny END
  FROM live c LEFT JOIN chain ch USING (customer_id) LEFT JOIN wide w USING (customer_id)
  LEFT JOIN ids i USING (customer_id) LEFT JOIN merged m USING (customer_id)
  LEFT JOIN ec.leads l USING (customer_id);
DROP TABLE tp;
DROP TABLE live;
"""
DATA_HEALTH_SQL: Final = """
INSERT INTO data_health
  WITH n AS (SELECT count(*) AS customers FROM customer_360 WHERE NOT erased)
  SELECT 'overall', 'customers', customers FROM n
  UNION ALL
  SELECT 'overall', 'null_rate_' || f, CASE WHEN n.customers = 0 THEN 0.0 ELSE nulls / n.customers END
  FROM n, (SELECT 'company' AS f, count(*) FILTER (WHERE company IS NULL) AS nulls FROM customer_360
           WHERE NOT erased
           UNION ALL SELECT 'city', count(*) FILTER (WHERE city IS NULL) FROM customer_360 WHERE NOT erased
           UNION ALL SELECT 'industry', count(*) FILTER (WHERE industry IS NULL) FROM customer_360
           WHERE NOT erased
           UNION ALL SELECT 'name', count(*) FILTER (WHERE display_name = '(unknown)') FROM customer_360
           WHERE NOT erased
           UNION ALL SELECT 'phone', count(*) FILTER (
             WHERE len(list_filter(identities, lambda x: starts_with(x, 'phone:'))) = 0) FROM customer_360
           WHERE NOT erased)
  UNION ALL
  -- customers sharing a (name, company) with another live customer: the cheap, exact part of
  -- the duplicate candidates (`eventchain duplicates` adds fuzzy name+company matches)
  SELECT 'overall', 'duplicate_candidate_rate',
         CASE WHEN n.customers = 0 THEN 0.0 ELSE coalesce(d.duplicated, 0) / n.customers END
  FROM n, (SELECT sum(c) AS duplicated FROM (
             SELECT count(*) AS c FROM customer_360
             WHERE NOT erased AND display_name <> '(unknown)' AND company IS NOT NULL
             GROUP BY lower(trim(display_name)), lower(trim(company)) HAVING count(*) > 1)) d
  UNION ALL
  -- customers sharing a phone, email or USCC with another live customer: links identity
  -- resolution held instead of fusing two parties (identity limits, merge protection)
  SELECT 'overall', 'held_identity_rate',
         CASE WHEN n.customers = 0 THEN 0.0 ELSE coalesce(h.held, 0) / n.customers END
  FROM n, (SELECT count(DISTINCT customer_id) AS held FROM (
             SELECT customer_id, identity, count(*) OVER (PARTITION BY identity) AS holders
             FROM (SELECT customer_id, unnest(identities) AS identity FROM customer_360 WHERE NOT erased)
             WHERE split_part(identity, ':', 1) IN ('phone', 'email', 'uscc'))
           WHERE holders > 1) h
  UNION ALL
  SELECT import_batch, 'rows_read', rows_read FROM ec.import_batches
  UNION ALL
  SELECT import_batch, 'rejected_rate', CASE WHEN rows_read = 0 THEN 0.0 ELSE rejected / rows_read END
  FROM ec.import_batches
  UNION ALL
  SELECT import_batch, 'abnormal_char_rate',
         CASE WHEN rows_read = 0 THEN 0.0 ELSE abnormal_char_rows / rows_read END FROM ec.import_batches
  UNION ALL
  SELECT import_batch, 'null_rate_' || unnest(map_keys(null_rates)), unnest(map_values(null_rates))
  FROM ec.import_batches;
"""
