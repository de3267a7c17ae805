"""The DuckDB read models (SPEC §2.4): the analyst contract, and the projector's own tables.

Public tables and views live in the default schema with exactly the SPEC's columns.
What the projector needs to keep them incremental (profile observations, identities,
stage/tag state, the tracking position) lives in the ``ec`` schema: analysts may read
it, but it is not part of the contract.

Time is event time. Where a metric needs "now" (CTRE's elapsed time of unanswered leads) it
uses the log's event-time watermark: the latest ``occurred_at`` projected (``ec.watermark``),
so every view is a pure function of the log. Decisions taken on the service's clock (an
overdue first contact, a silent customer) are not re-derived here: the views read the events
that recorded them (``FirstResponseOverdue``, the ``silent`` tag).

Longer than 400 lines on purpose: every figure is defined here once, as a named view or table
macro in dependency order (``VIEWS``); the report, the workspace, the CLI and what-if select
from them, so this file is the one place where a figure's definition is read and changed.
"""

from __future__ import annotations

from typing import Final

from domain.rules import CrmHealth, health_thresholds
from domain.touchpoints import CHANNELS

# Contact channels whose first inbound touch makes a lead (imports and other
# non-contact sources are facts about a customer, not leads).
# One definition with the domain (``domain.touchpoints.CHANNELS``, what ``Customer`` and the SLA
# book treat as a lead's channel).
LEAD_CHANNELS_SQL: Final = "(" + ",".join(f"'{channel}'" for channel in CHANNELS) + ")"
CONTRACT_STALL_DAYS: Final = 14

TABLES: Final = """
CREATE SCHEMA IF NOT EXISTS ec;
CREATE TABLE IF NOT EXISTS ec.tracking (
  application_name VARCHAR PRIMARY KEY, notification_id BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS ec.settings (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS ec.customers (
  customer_id UUID PRIMARY KEY, created_at TIMESTAMPTZ, merged_into UUID, erased BOOLEAN DEFAULT false,
  stage VARCHAR, stage_at TIMESTAMPTZ, owner_agent_id VARCHAR, tags VARCHAR[] DEFAULT []);
CREATE TABLE IF NOT EXISTS ec.identities (customer_id UUID, identity_key VARCHAR);
CREATE TABLE IF NOT EXISTS ec.observations (
  customer_id UUID, field VARCHAR, value VARCHAR, occurred_at TIMESTAMPTZ, touchpoint_id VARCHAR);
CREATE TABLE IF NOT EXISTS ec.merges (survivor_id UUID, absorbed_id UUID, merged_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS ec.leads (
  customer_id UUID PRIMARY KEY, channel VARCHAR, lead_at TIMESTAMPTZ, first_response_at TIMESTAMPTZ,
  followed_up_7d BOOLEAN, owner_agent_id VARCHAR);
CREATE TABLE IF NOT EXISTS ec.import_batches (
  import_batch VARCHAR PRIMARY KEY, source_file VARCHAR, rows_read BIGINT, accepted BIGINT, rejected BIGINT,
  null_rates MAP(VARCHAR, DOUBLE), abnormal_char_rows BIGINT, completed_at TIMESTAMPTZ,
  rejected_by_column MAP(VARCHAR, BIGINT));
CREATE TABLE IF NOT EXISTS touchpoints (
  touchpoint_id VARCHAR, customer_id UUID, channel VARCHAR, direction VARCHAR, occurred_at TIMESTAMPTZ,
  recorded_at TIMESTAMPTZ, actor VARCHAR, summary VARCHAR);
CREATE TABLE IF NOT EXISTS customer_360 (
  customer_id UUID, display_name VARCHAR, company VARCHAR, city VARCHAR, industry VARCHAR,
  owner_agent_id VARCHAR, stage VARCHAR, tags VARCHAR[], identities VARCHAR[], first_touch_channel VARCHAR,
  first_touch_at TIMESTAMPTZ, first_response_at TIMESTAMPTZ, last_touch_at TIMESTAMPTZ, touch_count INTEGER,
  merged_from VARCHAR[], erased BOOLEAN, budget_cny DOUBLE);
CREATE TABLE IF NOT EXISTS assignments (
  customer_id UUID, agent_id VARCHAR, decided_at TIMESTAMPTZ, rule_version INTEGER, matched_step VARCHAR,
  reason VARCHAR);
CREATE TABLE IF NOT EXISTS sla_breaches (
  customer_id UUID, deadline_at TIMESTAMPTZ, escalated_to VARCHAR, step INTEGER, rule_version INTEGER);
CREATE TABLE IF NOT EXISTS data_health (import_batch VARCHAR, metric VARCHAR, value DOUBLE);
CREATE TABLE IF NOT EXISTS ec.follow_up_events (
  customer_id UUID, kind VARCHAR, plan VARCHAR, step VARCHAR, rule_version INTEGER, instant TIMESTAMPTZ,
  observed_at TIMESTAMPTZ, evidence VARCHAR, agent_id VARCHAR, action VARCHAR, due_at TIMESTAMPTZ);
-- Columns added after a file was first written (DuckDB keeps an old file's tables as they were).
ALTER TABLE customer_360 ADD COLUMN IF NOT EXISTS budget_cny DOUBLE;
-- Touchpoints declared a mistake (Customer.TouchpointRetracted): kept in ``touchpoints`` (the
-- history), left out of every figure (leads, first response, follow-ups, last touch).
CREATE TABLE IF NOT EXISTS ec.retractions (
  touchpoint_id VARCHAR PRIMARY KEY, customer_id UUID, actor VARCHAR, reason VARCHAR,
  retracted_at TIMESTAMPTZ);
ALTER TABLE ec.import_batches ADD COLUMN IF NOT EXISTS rejected_by_column MAP(VARCHAR, BIGINT);
CREATE TABLE IF NOT EXISTS ec.intake (
  stream VARCHAR, sequence BIGINT, touchpoint_id VARCHAR, channel VARCHAR, utm_source VARCHAR,
  utm_medium VARCHAR, utm_campaign VARCHAR, day DATE, outcome VARCHAR, reason VARCHAR, path VARCHAR,
  counted_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS ec.redrives (
  dlq_stream VARCHAR, dlq_sequence BIGINT, channel VARCHAR, republished_as BIGINT, acted_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS ec.manifests (
  manifest_id VARCHAR, channel VARCHAR, utm_source VARCHAR, utm_medium VARCHAR, utm_campaign VARCHAR,
  day DATE, sent BIGINT, sent_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS ec.agents (agent_id VARCHAR PRIMARY KEY, team VARCHAR, status VARCHAR);
CREATE TABLE IF NOT EXISTS ec.accounts (account_id UUID PRIMARY KEY, agent_id VARCHAR);
CREATE TABLE IF NOT EXISTS ec.sign_ins (account_id UUID, signed_in_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS ec.stage_changes (
  customer_id UUID, stage VARCHAR, changed_at TIMESTAMPTZ, actor VARCHAR);
CREATE TABLE IF NOT EXISTS ec.corrections (
  customer_id UUID, field VARCHAR, actor VARCHAR, corrected_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS ec.health_thresholds (
  rule_version INTEGER, indicator VARCHAR, threshold DOUBLE, at_least BOOLEAN, stage_update_days INTEGER);
CREATE TABLE IF NOT EXISTS ec.rules (
  rule_version INTEGER PRIMARY KEY, revised_at TIMESTAMPTZ, first_response_minutes INTEGER,
  vip_first_response_minutes INTEGER, silence_days INTEGER, document JSON);
"""

# --- The figures: each defined once, here (SPEC §2.4, §2.5) ------------------------------
#
# Every figure is a table macro over a *scope*: the name of a relation with a
# ``customer_id`` column holding the customers to count (``ec.everyone`` for the analyst
# views, a role's ``visible_customers`` temp table for the report and the workspace), a
# lead-time window ``[from_ts, to_ts)`` and, where unanswered leads count, the instant
# ``as_of_ts`` they count up to. The public views are these macros over everyone; the
# report, the workspace, the demo and ``replay what-if`` select from the same macros.

EVERYONE_SCOPE: Final = "ec.everyone"  # the scope of the analyst views: every customer

# Everyone the projector knows (the scope of the analyst views), and the leads of a scope.
# With ``ec.everyone`` the optimiser drops the second branch and its semi-join altogether, so
# the analyst views cost what an unscoped query costs.
EVERYONE: Final = """
CREATE OR REPLACE VIEW ec.everyone AS SELECT customer_id FROM ec.customers;
CREATE OR REPLACE MACRO ec.scoped_leads(scope) AS TABLE
  SELECT customer_id, channel, lead_at, first_response_at, followed_up_7d, owner_agent_id
  FROM ec.leads WHERE scope = 'ec.everyone'
  UNION ALL
  SELECT customer_id, channel, lead_at, first_response_at, followed_up_7d, owner_agent_id
  FROM ec.leads WHERE scope <> 'ec.everyone'
    AND customer_id IN (SELECT CAST(customer_id AS UUID) FROM query_table(scope));
"""

# The rules in force: the newest revision (a rollback is a new revision of an old document).
# Their figures come from the domain's parse of the document (``RulesRevised``), never from
# defaults written here; with no rules recorded yet the view is empty.
RULES_IN_FORCE: Final = """
CREATE OR REPLACE VIEW ec.rules_in_force AS
  SELECT rule_version, revised_at, first_response_minutes, vip_first_response_minutes, silence_days,
         document
  FROM ec.rules ORDER BY rule_version DESC LIMIT 1;
"""

# "Now" for the metrics: the latest event time projected, so every view is a pure function
# of the log.
WATERMARK: Final = """
CREATE OR REPLACE VIEW ec.watermark AS
  SELECT coalesce(max(occurred_at), TIMESTAMPTZ '1970-01-01 00:00:00+00') AS as_of FROM touchpoints;
"""

# A lead (``ec.leads``, one row per live customer whose first inbound touch is on a contact
# channel) and its response time as of ``as_of_ts``: a reply after ``as_of_ts`` had not
# happened yet, so the lead counts as unanswered, with its elapsed time up to ``as_of_ts``
# (ignoring a lead never improves a figure, and no figure depends on the future).
# Hours as epoch_us differences: subtracting TIMESTAMPTZ values is ~8 µs a row.
LEAD_HOURS: Final = """
CREATE OR REPLACE MACRO ec.lead_hours(scope, from_ts, to_ts, as_of_ts) AS TABLE
  SELECT customer_id, channel, lead_at, owner_agent_id,
         coalesce(first_response_at <= CAST(as_of_ts AS TIMESTAMPTZ), false) AS answered,
         (epoch_us(CASE WHEN first_response_at <= CAST(as_of_ts AS TIMESTAMPTZ) THEN first_response_at
                        ELSE greatest(CAST(as_of_ts AS TIMESTAMPTZ), lead_at) END)
          - epoch_us(lead_at)) / 3600e6 AS hours
  FROM ec.scoped_leads(scope)
  WHERE lead_at >= CAST(from_ts AS TIMESTAMPTZ) AND lead_at < CAST(to_ts AS TIMESTAMPTZ);
CREATE OR REPLACE VIEW lead_response AS
  SELECT customer_id, channel, lead_at, first_response_at,
         (epoch_us(first_response_at) - epoch_us(lead_at)) / 3600e6 AS response_hours, owner_agent_id
  FROM ec.leads;
"""

# CTRE = Σ_c mean_response_hours_c × lead_share_c over first-touch channels, and the
# balance index: the lead-share-weighted coefficient of variation of the channel means.
CTRE: Final = """
CREATE OR REPLACE MACRO ec.ctre_of(scope, from_ts, to_ts, as_of_ts) AS TABLE
  WITH per_channel AS (
    SELECT channel, count(*) AS leads, count(*) FILTER (WHERE answered) AS responded,
           avg(hours) AS mean_response_hours
    FROM ec.lead_hours(scope, from_ts, to_ts, as_of_ts) GROUP BY channel),
  shares AS (
    SELECT channel, leads, responded, mean_response_hours, leads / sum(leads) OVER () AS lead_share
    FROM per_channel),
  total AS (
    SELECT sum(mean_response_hours * lead_share) AS ctre_hours FROM shares),
  balance AS (
    SELECT CASE WHEN t.ctre_hours > 0
             THEN sqrt(sum(s.lead_share * (s.mean_response_hours - t.ctre_hours) ^ 2)) / t.ctre_hours
             ELSE 0.0 END AS balance_index
    FROM shares s, total t GROUP BY t.ctre_hours)
  SELECT s.channel, s.leads, s.responded, s.mean_response_hours, s.lead_share, t.ctre_hours,
         b.balance_index
  FROM shares s, total t, balance b
  UNION ALL
  SELECT '*', sum(s.leads), sum(s.responded), t.ctre_hours, 1.0, t.ctre_hours, b.balance_index
  FROM shares s, total t, balance b GROUP BY t.ctre_hours, b.balance_index;
CREATE OR REPLACE MACRO ctre_between(from_ts, to_ts, as_of_ts) AS TABLE
  SELECT channel, leads, responded, mean_response_hours, lead_share, ctre_hours, balance_index
  FROM ec.ctre_of('ec.everyone', from_ts, to_ts, as_of_ts);
CREATE OR REPLACE VIEW ctre AS
  SELECT channel, leads, responded, mean_response_hours, lead_share, ctre_hours, balance_index
  FROM ctre_between(TIMESTAMPTZ '0001-01-01 00:00:00+00', TIMESTAMPTZ '9999-12-31 00:00:00+00',
                    (SELECT as_of FROM ec.watermark));
"""

# The funnel: leads by stage and lead channel; followed up within 7 days = an outbound
# touchpoint within 7 × 24 h after the lead (the first response, ``ec.leads.followed_up_7d``).
FUNNEL: Final = """
CREATE OR REPLACE MACRO ec.funnel_of(scope, from_ts, to_ts) AS TABLE
  SELECT c.stage, l.channel, count(*) AS customers,
         count(*) FILTER (WHERE l.followed_up_7d) AS followed_up_7d,
         count(*) FILTER (WHERE l.followed_up_7d) / count(*) AS follow_up_rate_7d
  FROM customer_360 c JOIN ec.scoped_leads(scope) l USING (customer_id)
  WHERE l.lead_at >= CAST(from_ts AS TIMESTAMPTZ) AND l.lead_at < CAST(to_ts AS TIMESTAMPTZ)
  GROUP BY ALL;
CREATE OR REPLACE VIEW funnel AS
  SELECT stage, channel, customers, followed_up_7d, follow_up_rate_7d
  FROM ec.funnel_of('ec.everyone', TIMESTAMPTZ '0001-01-01 00:00:00+00',
                    TIMESTAMPTZ '9999-12-31 00:00:00+00');
"""

# Leads by weekday (1 = Monday) and hour of their arrival in China Standard Time, with the
# mean response hours of ``ec.lead_hours`` (unanswered leads count up to ``as_of_ts``).
HEATMAP: Final = """
CREATE OR REPLACE MACRO ec.heatmap_of(scope, from_ts, to_ts, as_of_ts) AS TABLE
  SELECT isodow(lead_at AT TIME ZONE 'Asia/Shanghai')::INTEGER AS weekday,
         hour(lead_at AT TIME ZONE 'Asia/Shanghai')::INTEGER AS hour,
         count(*) AS leads, avg(hours) AS mean_response_hours
  FROM ec.lead_hours(scope, from_ts, to_ts, as_of_ts) GROUP BY ALL;
CREATE OR REPLACE VIEW response_heatmap AS
  SELECT weekday, hour, leads, mean_response_hours
  FROM ec.heatmap_of('ec.everyone', TIMESTAMPTZ '0001-01-01 00:00:00+00',
                     TIMESTAMPTZ '9999-12-31 00:00:00+00', (SELECT as_of FROM ec.watermark));
"""

# A breach is a LEAD whose first-response deadline passed unanswered: a lead with at least
# one recorded ``FirstResponseOverdue`` (the SLA watcher's decision, never re-derived here).
# Each escalation step of it is one row of ``sla_breaches``; "breaches" counts leads.
BREACHES: Final = """
CREATE OR REPLACE MACRO ec.breach_steps_of(scope, from_ts, to_ts) AS TABLE
  SELECT s.customer_id, s.deadline_at, s.escalated_to, s.step, s.rule_version, l.lead_at
  FROM sla_breaches s JOIN ec.scoped_leads(scope) l USING (customer_id)
  WHERE l.lead_at >= CAST(from_ts AS TIMESTAMPTZ) AND l.lead_at < CAST(to_ts AS TIMESTAMPTZ);
CREATE OR REPLACE MACRO ec.breached_leads_of(scope, from_ts, to_ts) AS TABLE
  SELECT customer_id, min(lead_at) AS lead_at, min(deadline_at) AS deadline_at, count(*) AS steps
  FROM ec.breach_steps_of(scope, from_ts, to_ts) GROUP BY customer_id;
CREATE OR REPLACE VIEW ec.breached_leads AS
  SELECT customer_id, lead_at, deadline_at, steps
  FROM ec.breached_leads_of('ec.everyone', TIMESTAMPTZ '0001-01-01 00:00:00+00',
                            TIMESTAMPTZ '9999-12-31 00:00:00+00');
"""

# Silent customers: the recorded ``silent`` tag (the silence tagger's decision on the rules'
# ``[silence] days``), never a threshold re-derived here.
SILENCE: Final = """
CREATE OR REPLACE VIEW silent_customers AS
  SELECT c.customer_id, c.display_name, c.owner_agent_id, c.last_touch_at,
         date_diff('day', c.last_touch_at, w.as_of)::INTEGER AS silent_days
  FROM customer_360 c, ec.watermark w
  WHERE list_contains(c.tags, 'silent') AND NOT c.erased;
"""

# The five break points of seed 002, counted now and repaired. "First contact overdue" is a
# breached lead (``ec.breached_leads``).
BREAKPOINTS: Final = f"""
CREATE OR REPLACE VIEW ec.journey_breakpoints_ordered AS
  WITH w AS (SELECT as_of FROM ec.watermark),
  last_out AS (SELECT customer_id, max(occurred_at) AS at FROM touchpoints WHERE direction = 'outbound'
                 AND touchpoint_id NOT IN (SELECT touchpoint_id FROM ec.retractions) GROUP BY customer_id),
  last_tech AS (SELECT customer_id, max(occurred_at) AS at FROM touchpoints
                WHERE channel = 'engineer_log' AND direction = 'inbound' GROUP BY customer_id),
  live AS (SELECT c.customer_id, c.stage, x.stage_at, c.last_touch_at, l.lead_at, l.first_response_at,
                  c.owner_agent_id
           FROM customer_360 c JOIN ec.customers x USING (customer_id)
           LEFT JOIN ec.leads l USING (customer_id))
  SELECT 'unassigned lead' AS breakpoint,
         count(*) FILTER (WHERE lead_at IS NOT NULL AND owner_agent_id IS NULL)::INTEGER AS now,
         count(*) FILTER (WHERE lead_at IS NOT NULL AND owner_agent_id IS NOT NULL)::INTEGER AS repaired,
         1 AS ord FROM live
  UNION ALL
  SELECT 'first contact overdue',
         count(*) FILTER (WHERE overdue AND first_response_at IS NULL),
         count(*) FILTER (WHERE overdue AND first_response_at IS NOT NULL),
         2 FROM (SELECT live.*, customer_id IN (SELECT customer_id FROM ec.breached_leads) AS overdue
                 FROM live)
  UNION ALL
  SELECT 'requirement doc not sent',
         count(*) FILTER (WHERE live.stage = 'requirement' AND (o.at IS NULL OR o.at < live.stage_at)),
         count(*) FILTER (WHERE live.stage IN ('solution', 'contract', 'won')),
         3 FROM live LEFT JOIN last_out o USING (customer_id)
  UNION ALL
  SELECT 'technical question unanswered',
         count(*) FILTER (WHERE t.at IS NOT NULL AND (o.at IS NULL OR o.at < t.at)),
         count(*) FILTER (WHERE t.at IS NOT NULL AND o.at >= t.at),
         4 FROM live LEFT JOIN last_tech t USING (customer_id) LEFT JOIN last_out o USING (customer_id)
  UNION ALL
  SELECT 'contract stalled',
         count(*) FILTER (WHERE live.stage = 'contract'
                            AND live.last_touch_at
                                < (SELECT as_of FROM w) - INTERVAL {CONTRACT_STALL_DAYS} DAY),
         count(*) FILTER (WHERE live.stage = 'won'),
         5 FROM live
  ORDER BY ord;
CREATE OR REPLACE VIEW journey_breakpoints AS
  SELECT breakpoint, now, repaired FROM ec.journey_breakpoints_ordered ORDER BY ord;
"""

# A lead nobody owns this long after it was recorded is a problem (the router routes a lead
# within a tick; the snapshot may trail the store by a publish interval): status, /metrics
# and the director board count the leads of ``ec.unowned_leads`` older than this.
UNOWNED_GRACE_S: Final = 30.0

# Leads of live, unerased customers that nobody owns, with when the store recorded the lead's
# first inbound touch: the safety net's figure (status, /metrics), for operators.
UNOWNED: Final = """
CREATE OR REPLACE VIEW ec.unowned_leads AS
  SELECT l.customer_id, l.channel, l.lead_at, t.recorded_at
  FROM ec.leads l JOIN customer_360 c USING (customer_id)
  JOIN (SELECT customer_id, min(recorded_at) AS recorded_at FROM touchpoints
        WHERE direction = 'inbound' GROUP BY customer_id) t USING (customer_id)
  WHERE l.owner_agent_id IS NULL AND c.owner_agent_id IS NULL AND NOT coalesce(c.erased, false);
"""

# Follow-up plans (seed 004): one row per plan step that came due or was met, from the
# follow-up follower's recorded decisions (``PlanStarted`` … ``StepEscalated``), never re-derived.
# A step met at or before its due instant (or met before it ever came due) is met on time; the
# execution rate is met on time / steps, per rep (the owner when the step came due) and plan.
FOLLOW_UPS: Final = """
CREATE OR REPLACE VIEW follow_ups AS
  WITH steps AS (
    SELECT customer_id, plan, step, max(rule_version) AS rule_version,
           max(instant) FILTER (WHERE kind = 'due') AS came_due_at,
           max(due_at) FILTER (WHERE kind IN ('met', 'escalated')) AS known_due_at,
           max(instant) FILTER (WHERE kind = 'met') AS met_at,
           max(evidence) FILTER (WHERE kind = 'met') AS evidence,
           max(agent_id) FILTER (WHERE kind = 'due') AS agent_id,
           max(action) FILTER (WHERE kind = 'due') AS action,
           max(agent_id) FILTER (WHERE kind = 'escalated') AS escalated_to
    FROM ec.follow_up_events WHERE kind IN ('due', 'met', 'escalated') GROUP BY ALL),
  plans AS (
    SELECT customer_id, plan,
           coalesce(max(instant) FILTER (WHERE kind = 'paused')
                      > max(instant) FILTER (WHERE kind = 'resumed'), bool_or(kind = 'paused')) AS paused
    FROM ec.follow_up_events GROUP BY ALL)
  SELECT s.customer_id, s.plan, s.rule_version, s.step,
         coalesce(s.came_due_at, s.known_due_at) AS due_at, s.met_at, s.evidence,
         CASE WHEN s.met_at IS NOT NULL AND (s.came_due_at IS NULL OR s.met_at <= s.came_due_at) THEN 'met'
              WHEN s.met_at IS NOT NULL THEN 'met_late'
              WHEN p.paused THEN 'paused'
              WHEN s.escalated_to IS NOT NULL THEN 'overdue'
              ELSE 'due' END AS status,
         coalesce(s.agent_id, c.owner_agent_id) AS agent_id, s.action, s.escalated_to
  FROM steps s LEFT JOIN plans p USING (customer_id, plan) LEFT JOIN ec.customers c USING (customer_id)
  WHERE c.merged_into IS NULL;
CREATE OR REPLACE MACRO ec.follow_up_execution_of(scope) AS TABLE
  SELECT agent_id, plan, count(*) AS steps,
         count(*) FILTER (WHERE status = 'met') AS met_on_time,
         count(*) FILTER (WHERE status IN ('due', 'overdue')) AS open,
         round(count(*) FILTER (WHERE status = 'met') / count(*), 4) AS execution_rate
  FROM follow_ups
  WHERE scope = 'ec.everyone' OR customer_id IN (SELECT CAST(customer_id AS UUID) FROM query_table(scope))
  GROUP BY ALL;
CREATE OR REPLACE VIEW follow_up_execution AS
  SELECT agent_id, plan, steps, met_on_time, open, execution_rate
  FROM ec.follow_up_execution_of('ec.everyone');
"""

# The intake ledger (seed 002): what became of every message that reached the ingest, per
# channel × utm campaign × day (China time, of the envelope's occurred_at). ``ec.intake`` holds
# each message's first tallied outcome (domain/intake.py); a message whose sequence a retried
# dead-letter action names is a re-driven copy, counted apart (its original was already
# counted as dead-lettered). Stream sequences between two tallied ones that no tally names
# are received and not accounted for (in flight, or lost): they make a row of their own,
# channel '?', that does not add up — reported, never hidden.
INTAKE: Final = """
CREATE OR REPLACE VIEW ec.intake_messages AS
  SELECT i.*, r.republished_as IS NOT NULL AS redriven
  FROM ec.intake i LEFT JOIN (SELECT DISTINCT republished_as FROM ec.redrives) r
    ON r.republished_as = i.sequence;
CREATE OR REPLACE VIEW ec.intake_unaccounted AS
  SELECT '?' AS channel, '' AS utm_source, '' AS utm_medium, '' AS utm_campaign,
         CAST(next_counted_at AT TIME ZONE 'Asia/Shanghai' AS DATE) AS day,
         sum(next_sequence - sequence - 1) AS messages
  FROM (SELECT sequence, lead(sequence) OVER w AS next_sequence, lead(counted_at) OVER w AS next_counted_at
        FROM ec.intake WINDOW w AS (PARTITION BY stream ORDER BY sequence))
  WHERE next_sequence > sequence + 1
  GROUP BY ALL;
CREATE OR REPLACE VIEW ec.manifests_in_force AS
  SELECT channel, utm_source, utm_medium, utm_campaign, day, arg_max(sent, sent_at) AS sent
  FROM ec.manifests GROUP BY ALL;
CREATE OR REPLACE MACRO ec.intake_daily_of(from_day, to_day) AS TABLE
  WITH counted AS (
    SELECT channel, utm_source, utm_medium, utm_campaign, day,
           count(*) FILTER (WHERE NOT redriven) AS received,
           count(*) FILTER (WHERE NOT redriven AND outcome = 'recorded') AS recorded,
           count(*) FILTER (WHERE NOT redriven AND outcome = 'duplicate') AS duplicates,
           count(*) FILTER (WHERE NOT redriven AND outcome = 'dead_lettered') AS dead_lettered,
           count(*) FILTER (WHERE NOT redriven AND outcome = 'dead_lettered' AND reason = 'schema')
             AS dead_lettered_schema,
           count(*) FILTER (WHERE NOT redriven AND outcome = 'dead_lettered' AND reason = 'limits')
             AS dead_lettered_limits,
           count(*) FILTER (WHERE NOT redriven AND outcome = 'dead_lettered' AND reason = 'identity')
             AS dead_lettered_identity,
           count(*) FILTER (WHERE NOT redriven AND outcome = 'dead_lettered' AND reason = 'dictionary')
             AS dead_lettered_dictionary,
           count(*) FILTER (WHERE NOT redriven AND outcome = 'dead_lettered'
                              AND reason NOT IN ('schema', 'limits', 'identity', 'dictionary'))
             AS dead_lettered_other,
           count(*) FILTER (WHERE NOT redriven AND outcome = 'held') AS held,
           count(*) FILTER (WHERE redriven) AS redriven,
           count(*) FILTER (WHERE redriven AND outcome IN ('recorded', 'held')) AS redriven_recorded,
           0::BIGINT AS import_rejected, NULL::BIGINT AS sent
    FROM ec.intake_messages GROUP BY ALL
    UNION ALL
    SELECT 'import', '', '', '', CAST(completed_at AT TIME ZONE 'Asia/Shanghai' AS DATE),
           0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, sum(rejected)::BIGINT, NULL
    FROM ec.import_batches GROUP BY ALL
    UNION ALL
    SELECT channel, utm_source, utm_medium, utm_campaign, day, messages,
           0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL
    FROM ec.intake_unaccounted
    UNION ALL
    SELECT channel, utm_source, utm_medium, utm_campaign, day, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, sent
    FROM ec.manifests_in_force),
  summed AS (
    SELECT channel, utm_source, utm_medium, utm_campaign, day,
           sum(received)::BIGINT AS received, sum(recorded)::BIGINT AS recorded,
           sum(duplicates)::BIGINT AS duplicates, sum(dead_lettered)::BIGINT AS dead_lettered,
           sum(dead_lettered_schema)::BIGINT AS dead_lettered_schema,
           sum(dead_lettered_limits)::BIGINT AS dead_lettered_limits,
           sum(dead_lettered_identity)::BIGINT AS dead_lettered_identity,
           sum(dead_lettered_dictionary)::BIGINT AS dead_lettered_dictionary,
           sum(dead_lettered_other)::BIGINT AS dead_lettered_other,
           sum(held)::BIGINT AS held, sum(redriven)::BIGINT AS redriven,
           sum(redriven_recorded)::BIGINT AS redriven_recorded,
           sum(import_rejected)::BIGINT AS import_rejected, sum(sent)::BIGINT AS sent
    FROM counted
    WHERE day >= CAST(from_day AS DATE) AND day < CAST(to_day AS DATE)
    GROUP BY ALL)
  SELECT channel, utm_source, utm_medium, utm_campaign, day, received, recorded, duplicates,
         dead_lettered, dead_lettered_schema, dead_lettered_limits, dead_lettered_identity,
         dead_lettered_dictionary, dead_lettered_other, held, redriven, redriven_recorded, import_rejected,
         received - recorded - duplicates - dead_lettered - held AS unaccounted,
         received = recorded + duplicates + dead_lettered + held AS adds_up,
         sent, sent - received AS gap
  FROM summed;
CREATE OR REPLACE VIEW intake_daily AS
  SELECT * FROM ec.intake_daily_of(DATE '0001-01-01', DATE '9999-12-31');
CREATE OR REPLACE MACRO ec.intake_by_channel_of(from_day, to_day, campaign) AS TABLE
  SELECT channel, day, sum(received)::BIGINT AS received, sum(recorded)::BIGINT AS recorded,
         sum(duplicates)::BIGINT AS duplicates, sum(dead_lettered)::BIGINT AS dead_lettered,
         sum(dead_lettered_schema)::BIGINT AS dead_lettered_schema,
         sum(dead_lettered_limits)::BIGINT AS dead_lettered_limits,
         sum(dead_lettered_identity)::BIGINT AS dead_lettered_identity,
         sum(dead_lettered_dictionary)::BIGINT AS dead_lettered_dictionary,
         sum(dead_lettered_other)::BIGINT AS dead_lettered_other, sum(held)::BIGINT AS held,
         sum(redriven)::BIGINT AS redriven, sum(redriven_recorded)::BIGINT AS redriven_recorded,
         sum(import_rejected)::BIGINT AS import_rejected, sum(unaccounted)::BIGINT AS unaccounted,
         bool_and(adds_up) AS adds_up, sum(sent)::BIGINT AS sent, sum(gap)::BIGINT AS gap
  FROM ec.intake_daily_of(from_day, to_day)
  WHERE campaign IS NULL OR utm_campaign = campaign
  GROUP BY channel, day;
CREATE OR REPLACE VIEW intake_dead_letters AS
  SELECT channel, utm_campaign, day, reason, path, count(*) AS messages
  FROM ec.intake_messages WHERE outcome = 'dead_lettered' AND NOT redriven GROUP BY ALL;
CREATE OR REPLACE VIEW intake_import_rejects AS
  SELECT source_file, import_batch, CAST(completed_at AT TIME ZONE 'Asia/Shanghai' AS DATE) AS day,
         rows_read, accepted, rejected, coalesce(rejected_by_column, MAP {}) AS rejected_by_column
  FROM ec.import_batches;
"""

# A customer's source campaign (seed 002: the form's tracking parameters become the customer's
# source channel): the utm of their earliest recorded touchpoint that carries one.
SOURCES: Final = """
CREATE OR REPLACE VIEW ec.customer_sources AS
  SELECT t.customer_id, arg_min(i.utm_source, t.occurred_at) AS utm_source,
         arg_min(i.utm_medium, t.occurred_at) AS utm_medium,
         arg_min(i.utm_campaign, t.occurred_at) AS utm_campaign
  FROM touchpoints t JOIN ec.intake i USING (touchpoint_id)
  WHERE i.outcome IN ('recorded', 'held') AND (i.utm_campaign <> '' OR i.utm_source <> '')
  GROUP BY t.customer_id;
CREATE OR REPLACE MACRO ec.funnel_by_campaign_of(scope, from_ts, to_ts) AS TABLE
  SELECT f.stage, l.channel, coalesce(s.utm_source, '') AS utm_source,
         coalesce(s.utm_medium, '') AS utm_medium, coalesce(s.utm_campaign, '') AS utm_campaign,
         count(*) AS customers, count(*) FILTER (WHERE l.followed_up_7d) AS followed_up_7d,
         count(*) FILTER (WHERE l.followed_up_7d) / count(*) AS follow_up_rate_7d
  FROM customer_360 f JOIN ec.scoped_leads(scope) l USING (customer_id)
  LEFT JOIN ec.customer_sources s USING (customer_id)
  WHERE l.lead_at >= CAST(from_ts AS TIMESTAMPTZ) AND l.lead_at < CAST(to_ts AS TIMESTAMPTZ)
  GROUP BY ALL;
CREATE OR REPLACE VIEW funnel_by_campaign AS
  SELECT stage, channel, utm_source, utm_medium, utm_campaign, customers, followed_up_7d, follow_up_rate_7d
  FROM ec.funnel_by_campaign_of('ec.everyone', TIMESTAMPTZ '0001-01-01 00:00:00+00',
                                TIMESTAMPTZ '9999-12-31 00:00:00+00');
CREATE OR REPLACE VIEW ctre_by_campaign AS
  SELECT coalesce(s.utm_campaign, '') AS utm_campaign, h.channel, count(*) AS leads,
         count(*) FILTER (WHERE h.answered) AS responded, avg(h.hours) AS mean_response_hours
  FROM ec.lead_hours('ec.everyone', TIMESTAMPTZ '0001-01-01 00:00:00+00',
                     TIMESTAMPTZ '9999-12-31 00:00:00+00', (SELECT as_of FROM ec.watermark)) h
  LEFT JOIN ec.customer_sources s USING (customer_id)
  GROUP BY ALL;
"""


# Seed 003's CRM health check: six indicators by month (China time) and team, each with the
# threshold of the rules in force (``[crm_health]``; the domain's defaults before any rules are
# applied) and its status. A team is the roster's current team of the agent concerned: the
# owner of the customer (stage updates, core fields, first response), the one who acted
# (activity, corrections). Intake success is the ledger's recorded ÷ received, company-wide
# (team '*'). Active share: per day on which anyone recorded a sign-in or an action (outbound
# touchpoint, stage move, correction), the team's active agents ÷ its agents (not left); the
# month's value is the mean of those days. A stage move is on time within ``stage_update_days``
# of the customer's previous move (the first: of the lead). Core fields: name, company, city,
# industry, over the live customers first touched that month.
def _default_thresholds() -> str:
    default = CrmHealth()
    rows = ", ".join(
        f"('{name}', {threshold!r}, {str(at_least).lower()}, {default.stage_update_days})"
        for name, threshold, at_least in health_thresholds(default)
    )
    return f"(VALUES {rows}) AS d(indicator, threshold, at_least, stage_update_days)"


CRM_HEALTH: Final = f"""
CREATE OR REPLACE VIEW ec.health_thresholds_in_force AS
  SELECT indicator, threshold, at_least, stage_update_days FROM ec.health_thresholds
  WHERE rule_version = (SELECT max(rule_version) FROM ec.health_thresholds)
  UNION ALL
  SELECT * FROM {_default_thresholds()} WHERE NOT EXISTS (SELECT 1 FROM ec.health_thresholds);
CREATE OR REPLACE VIEW ec.agent_activity AS
  SELECT a.agent_id, s.signed_in_at AS at FROM ec.sign_ins s JOIN ec.accounts a USING (account_id)
  UNION ALL SELECT actor, occurred_at FROM touchpoints WHERE direction = 'outbound' AND actor IS NOT NULL
  UNION ALL SELECT actor, changed_at FROM ec.stage_changes
  UNION ALL SELECT actor, corrected_at FROM ec.corrections;
CREATE OR REPLACE VIEW ec.health_values AS
  WITH active AS (
    SELECT DISTINCT g.team, CAST(a.at AT TIME ZONE 'Asia/Shanghai' AS DATE) AS day, a.agent_id
    FROM ec.agent_activity a JOIN ec.agents g USING (agent_id) WHERE g.status <> 'left'),
  working_days AS (SELECT DISTINCT day FROM active),
  sizes AS (SELECT team, count(*) AS agents FROM ec.agents WHERE status <> 'left' GROUP BY team),
  per_day AS (
    SELECT s.team, d.day, coalesce(n.active, 0) / s.agents AS share
    FROM sizes s CROSS JOIN working_days d
    LEFT JOIN (SELECT team, day, count(*) AS active FROM active GROUP BY ALL) n USING (team, day)),
  moves AS (
    SELECT c.customer_id, c.changed_at,
           coalesce(lag(c.changed_at) OVER (PARTITION BY c.customer_id ORDER BY c.changed_at),
                    l.lead_at, x.created_at) AS since,
           x.owner_agent_id
    FROM ec.stage_changes c JOIN ec.customers x USING (customer_id)
    LEFT JOIN ec.leads l USING (customer_id)),
  days AS (SELECT any_value(stage_update_days) AS days FROM ec.health_thresholds_in_force)
  SELECT date_trunc('month', day) AS month, team, 'active_share' AS indicator, avg(share) AS value
  FROM per_day GROUP BY ALL
  UNION ALL
  SELECT date_trunc('month', m.changed_at AT TIME ZONE 'Asia/Shanghai'), coalesce(g.team, ''),
         'stage_updates_on_time',
         avg(CASE WHEN m.changed_at <= m.since + to_days((SELECT days FROM days)) THEN 1.0 ELSE 0.0 END)
  FROM moves m LEFT JOIN ec.agents g ON g.agent_id = m.owner_agent_id GROUP BY ALL
  UNION ALL
  SELECT date_trunc('month', c.first_touch_at AT TIME ZONE 'Asia/Shanghai'), coalesce(g.team, ''),
         'core_fields_complete',
         avg(((c.display_name IS NOT NULL)::INTEGER + (c.company IS NOT NULL)::INTEGER
              + (c.city IS NOT NULL)::INTEGER + (c.industry IS NOT NULL)::INTEGER) / 4.0)
  FROM customer_360 c LEFT JOIN ec.agents g ON g.agent_id = c.owner_agent_id
  WHERE NOT c.erased AND c.first_touch_at IS NOT NULL GROUP BY ALL
  UNION ALL
  SELECT date_trunc('month', day), '*', 'intake_success', sum(recorded) / sum(received)
  FROM intake_daily WHERE channel <> 'import' GROUP BY ALL HAVING sum(received) > 0
  UNION ALL
  SELECT date_trunc('month', l.lead_at AT TIME ZONE 'Asia/Shanghai'), coalesce(g.team, ''),
         'mean_first_response_hours',
         avg((epoch_us(l.first_response_at) - epoch_us(l.lead_at)) / 3600e6)
  FROM ec.leads l LEFT JOIN ec.agents g ON g.agent_id = l.owner_agent_id
  WHERE l.first_response_at IS NOT NULL GROUP BY ALL
  UNION ALL
  SELECT date_trunc('month', r.corrected_at AT TIME ZONE 'Asia/Shanghai'), coalesce(g.team, o.team, ''),
         'corrections', count(*)
  FROM ec.corrections r LEFT JOIN ec.agents g ON g.agent_id = r.actor
  LEFT JOIN ec.customers x USING (customer_id) LEFT JOIN ec.agents o ON o.agent_id = x.owner_agent_id
  GROUP BY ALL;
CREATE OR REPLACE VIEW crm_health AS
  SELECT CAST(v.month AS DATE) AS month, v.team, v.indicator, v.value, t.threshold,
         CASE WHEN (t.at_least AND v.value >= t.threshold) OR (NOT t.at_least AND v.value <= t.threshold)
              THEN 'ok' ELSE 'alert' END AS status
  FROM ec.health_values v JOIN ec.health_thresholds_in_force t USING (indicator);
"""

# In dependency order.
VIEWS: Final = "".join(
    (
        EVERYONE,
        RULES_IN_FORCE,
        WATERMARK,
        LEAD_HOURS,
        CTRE,
        FUNNEL,
        HEATMAP,
        BREACHES,
        SILENCE,
        BREAKPOINTS,
        UNOWNED,
        FOLLOW_UPS,
        INTAKE,
        SOURCES,
        CRM_HEALTH,
    )
)

PUBLIC_RELATIONS: Final = (
    "customer_360",
    "touchpoints",
    "lead_response",
    "ctre",
    "funnel",
    "response_heatmap",
    "assignments",
    "sla_breaches",
    "silent_customers",
    "journey_breakpoints",
    "data_health",
    "follow_ups",
    "follow_up_execution",
    "intake_daily",
    "intake_dead_letters",
    "intake_import_rejects",
    "funnel_by_campaign",
    "ctre_by_campaign",
    "crm_health",
)
