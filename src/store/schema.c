/*
 * schema.c: the control-plane schema as numbered migrations. Append new
 * migrations at the end; never edit one that has shipped. SQL here must stay
 * portable between SQLite and PostgreSQL (see db.h): BIGINT epoch-ms times,
 * TEXT JSON, INTEGER 0/1 booleans, TEXT UUID keys.
 */
#include "store/store_internal.h"

static const char m001_init[] =
    "CREATE TABLE tenants ("
    " id TEXT PRIMARY KEY,"
    " slug TEXT NOT NULL UNIQUE,"
    " created_at BIGINT NOT NULL);"

    "CREATE TABLE tenant_catalogs ("
    " id TEXT PRIMARY KEY,"
    " tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
    " catalog_name TEXT NOT NULL,"
    " catalog_type TEXT NOT NULL,"
    " catalog_uri TEXT,"
    " warehouse TEXT NOT NULL,"
    " storage_prefix TEXT NOT NULL,"
    " s3_endpoint TEXT,"
    " s3_access_key_id TEXT,"
    " s3_secret_key_enc TEXT,"
    " metadata TEXT NOT NULL DEFAULT '{}',"
    " active INTEGER NOT NULL DEFAULT 1,"
    " created_at BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL,"
    " UNIQUE (tenant_id, catalog_name));"

    "CREATE TABLE connectors ("
    " id TEXT PRIMARY KEY,"
    " tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
    " source_system TEXT NOT NULL,"
    " tap_name TEXT NOT NULL,"
    " connector_type TEXT NOT NULL,"
    " destination_catalog TEXT NOT NULL,"
    " destination_table TEXT NOT NULL,"
    " iomete_namespace TEXT NOT NULL,"
    " sync_schedule TEXT NOT NULL,"
    " config_encrypted TEXT,"
    " tap_version TEXT,"
    " meltano_environment TEXT NOT NULL,"
    " catalog_json TEXT,"
    " webhook_secret_enc TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " consecutive_failures INTEGER NOT NULL DEFAULT 0,"
    " rows_total BIGINT NOT NULL DEFAULT 0,"
    " last_synced_at BIGINT,"
    " next_run_at BIGINT,"
    " tap_state TEXT,"
    " followup_queued INTEGER NOT NULL DEFAULT 0,"
    " created_at BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL);"
    "CREATE INDEX connectors_tenant ON connectors (tenant_id, created_at);"
    "CREATE INDEX connectors_due ON connectors (status, next_run_at);"

    "CREATE TABLE field_mappings ("
    " id TEXT PRIMARY KEY,"
    " connector_id TEXT NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,"
    " tenant_id TEXT NOT NULL,"
    " source_stream TEXT NOT NULL,"
    " source_field TEXT NOT NULL,"
    " target_column TEXT NOT NULL,"
    " target_type TEXT NOT NULL,"
    " transform_fn TEXT,"
    " review_required INTEGER NOT NULL DEFAULT 0,"
    " position INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX field_mappings_connector ON field_mappings (connector_id, position);"

    "CREATE TABLE sync_runs ("
    " id TEXT PRIMARY KEY,"
    " connector_id TEXT NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,"
    " tenant_id TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " trigger TEXT NOT NULL DEFAULT 'schedule',"
    " rows_synced BIGINT NOT NULL DEFAULT 0,"
    " rows_loaded BIGINT NOT NULL DEFAULT 0,"
    " transform_errors BIGINT NOT NULL DEFAULT 0,"
    " iomete_table TEXT,"
    " started_at BIGINT NOT NULL,"
    " completed_at BIGINT,"
    " error_msg TEXT,"
    " state_before TEXT,"
    " state_after TEXT,"
    " snapshot_id TEXT,"
    " log_tail TEXT,"
    " updated_at BIGINT);"
    "CREATE INDEX sync_runs_connector ON sync_runs (connector_id, started_at);"
    "CREATE INDEX sync_runs_status ON sync_runs (status);"

    "CREATE TABLE runner_jobs ("
    " id TEXT PRIMARY KEY,"
    " connector_id TEXT NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,"
    " run_id TEXT NOT NULL REFERENCES sync_runs(id) ON DELETE CASCADE,"
    " tenant_id TEXT NOT NULL,"
    " runner_id TEXT,"
    " child_pid INTEGER,"
    " lease_expires_at BIGINT,"
    " log_tail TEXT,"
    " cancel_requested INTEGER NOT NULL DEFAULT 0,"
    " created_at BIGINT NOT NULL);"
    "CREATE INDEX runner_jobs_connector ON runner_jobs (connector_id);"
    "CREATE INDEX runner_jobs_lease ON runner_jobs (lease_expires_at);";

/* Migration 2: a per-tenant change counter for the API's response cache
 * (docs/store.md "Generation"). Triggers, not application code, bump it on every
 * insert, update and delete of a row the tenant's connector list/detail or catalog
 * list can show, so no writer (API, webhook, the runner's claims in jobs.c, a
 * future tool) can forget. SQLite trigger syntax: the PostgreSQL backend mirrors
 * these with one plpgsql trigger function (text in docs/store.md). Also the index
 * that makes "latest run of a connector" an index seek. */
static const char m002_generation[] =
    "ALTER TABLE tenants ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;"
    "CREATE TRIGGER connectors_gen_insert AFTER INSERT ON connectors FOR EACH ROW BEGIN"
    " UPDATE tenants SET generation = generation + 1 WHERE id = NEW.tenant_id; END;"
    "CREATE TRIGGER connectors_gen_update AFTER UPDATE ON connectors FOR EACH ROW BEGIN"
    " UPDATE tenants SET generation = generation + 1 WHERE id = NEW.tenant_id; END;"
    "CREATE TRIGGER connectors_gen_delete AFTER DELETE ON connectors FOR EACH ROW BEGIN"
    " UPDATE tenants SET generation = generation + 1 WHERE id = OLD.tenant_id; END;"
    "CREATE TRIGGER sync_runs_gen_insert AFTER INSERT ON sync_runs FOR EACH ROW BEGIN"
    " UPDATE tenants SET generation = generation + 1 WHERE id = NEW.tenant_id; END;"
    "CREATE TRIGGER sync_runs_gen_update AFTER UPDATE ON sync_runs FOR EACH ROW BEGIN"
    " UPDATE tenants SET generation = generation + 1 WHERE id = NEW.tenant_id; END;"
    "CREATE TRIGGER sync_runs_gen_delete AFTER DELETE ON sync_runs FOR EACH ROW BEGIN"
    " UPDATE tenants SET generation = generation + 1 WHERE id = OLD.tenant_id; END;"
    "CREATE TRIGGER field_mappings_gen_insert AFTER INSERT ON field_mappings FOR EACH ROW BEGIN"
    " UPDATE tenants SET generation = generation + 1 WHERE id = NEW.tenant_id; END;"
    "CREATE TRIGGER field_mappings_gen_update AFTER UPDATE ON field_mappings FOR EACH ROW BEGIN"
    " UPDATE tenants SET generation = generation + 1 WHERE id = NEW.tenant_id; END;"
    "CREATE TRIGGER field_mappings_gen_delete AFTER DELETE ON field_mappings FOR EACH ROW BEGIN"
    " UPDATE tenants SET generation = generation + 1 WHERE id = OLD.tenant_id; END;"
    "CREATE TRIGGER tenant_catalogs_gen_insert AFTER INSERT ON tenant_catalogs FOR EACH ROW BEGIN"
    " UPDATE tenants SET generation = generation + 1 WHERE id = NEW.tenant_id; END;"
    "CREATE TRIGGER tenant_catalogs_gen_update AFTER UPDATE ON tenant_catalogs FOR EACH ROW BEGIN"
    " UPDATE tenants SET generation = generation + 1 WHERE id = NEW.tenant_id; END;"
    "CREATE TRIGGER tenant_catalogs_gen_delete AFTER DELETE ON tenant_catalogs FOR EACH ROW BEGIN"
    " UPDATE tenants SET generation = generation + 1 WHERE id = OLD.tenant_id; END;"
    "CREATE INDEX sync_runs_latest ON sync_runs (connector_id, started_at, updated_at, id);";

/* Migration 2 on PostgreSQL: the same counter, column and index; one plpgsql
 * function and one AFTER INSERT OR UPDATE OR DELETE row trigger per table
 * (docs/store.md "Generation"). */
static const char m002_generation_pg[] =
    "ALTER TABLE tenants ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;"
    "CREATE OR REPLACE FUNCTION ivory_bump_generation() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  UPDATE tenants SET generation = generation + 1"
    "   WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END;"
    "  RETURN NULL;"
    " END $$;"
    "CREATE TRIGGER connectors_gen AFTER INSERT OR UPDATE OR DELETE ON connectors"
    " FOR EACH ROW EXECUTE FUNCTION ivory_bump_generation();"
    "CREATE TRIGGER sync_runs_gen AFTER INSERT OR UPDATE OR DELETE ON sync_runs"
    " FOR EACH ROW EXECUTE FUNCTION ivory_bump_generation();"
    "CREATE TRIGGER field_mappings_gen AFTER INSERT OR UPDATE OR DELETE ON field_mappings"
    " FOR EACH ROW EXECUTE FUNCTION ivory_bump_generation();"
    "CREATE TRIGGER tenant_catalogs_gen AFTER INSERT OR UPDATE OR DELETE ON tenant_catalogs"
    " FOR EACH ROW EXECUTE FUNCTION ivory_bump_generation();"
    "CREATE INDEX sync_runs_latest ON sync_runs (connector_id, started_at, updated_at, id);";

/* Migration 3: discovery and stream selection (docs/store.md "Stream catalog"). The
 * connector's stream catalog (the discovered Singer or Airbyte catalog with the user's
 * selection, as one JSON document), when it was discovered, and a version counter that every
 * write bumps so concurrent writers (a PATCH and a finishing discovery) compare-and-set.
 * discovery_requests: an API server asks, a runner (which holds the config key) runs the
 * tap with --discover and answers in the row. */
static const char m003_discovery[] =
    "ALTER TABLE connectors ADD COLUMN stream_catalog TEXT;"
    "ALTER TABLE connectors ADD COLUMN catalog_discovered_at BIGINT;"
    "ALTER TABLE connectors ADD COLUMN catalog_version BIGINT NOT NULL DEFAULT 0;"
    "CREATE TABLE discovery_requests ("
    " id TEXT PRIMARY KEY,"
    " tenant_id TEXT NOT NULL,"
    " connector_id TEXT NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,"
    " status TEXT NOT NULL,"
    " runner_id TEXT,"
    " lease_expires_at BIGINT,"
    " http_status INTEGER,"
    " detail TEXT,"
    " report TEXT,"
    " created_at BIGINT NOT NULL,"
    " finished_at BIGINT);"
    "CREATE INDEX discovery_requests_status ON discovery_requests (status, created_at);"
    "CREATE INDEX discovery_requests_connector ON discovery_requests (connector_id);";

/* Migration 4: the sealed credential of a platform catalog (rest: a bearer token or
 * client_id:client_secret for OAuth2 client credentials; docs/lakehouse.md). */
static const char m004_catalog_credential[] =
    "ALTER TABLE tenant_catalogs ADD COLUMN catalog_credential_enc TEXT;";

/* Operations (docs/api.md "Operating a connector"): the schema-drift policy, the previous
 * webhook secret kept verifying during a rotation's grace period, and a running run's
 * progress (rows committed so far and when its last checkpoint was). */
static const char m005_ops[] =
    "ALTER TABLE connectors ADD COLUMN schema_drift TEXT NOT NULL DEFAULT 'evolve';"
    "ALTER TABLE connectors ADD COLUMN webhook_secret_prev_enc TEXT;"
    "ALTER TABLE connectors ADD COLUMN webhook_secret_prev_until BIGINT;"
    "ALTER TABLE sync_runs ADD COLUMN rows_committed BIGINT NOT NULL DEFAULT 0;"
    "ALTER TABLE sync_runs ADD COLUMN last_checkpoint_at BIGINT;"
    "ALTER TABLE sync_runs ADD COLUMN stream_rows TEXT;"
    "CREATE INDEX connectors_tenant_page ON connectors (tenant_id, created_at, id);";

/* Migration 6: transform samples of a run (docs/transforms.md): the first transform errors
 * of a run as a JSON array of {"field","value","error"}, written by the runner. */
static const char m006_transform_samples[] =
    "ALTER TABLE sync_runs ADD COLUMN transform_samples TEXT;";

/* Migration 7: the schema changes a run applied to existing tables (docs/api.md "One run"):
 * a JSON array of {"stream","table","change"}, written by the runner. */
static const char m007_schema_changes[] =
    "ALTER TABLE sync_runs ADD COLUMN schema_changes TEXT;";

/* Migration 8: the scheduler's due selection as index ranges (docs/runner.md, "Claiming").
 * connectors_due_next walks due connectors in due order and connectors_due_tenant seeks one
 * tenant's earliest due connector; both are partial (active connectors with a next run), so
 * they hold only what a claim may take. sync_runs_running makes "is a run of this connector
 * running" one seek instead of a read of the connector's whole run history. */
static const char m008_due_indexes[] =
    "CREATE INDEX connectors_due_next ON connectors (next_run_at, id, tenant_id)"
    " WHERE status = 'active' AND next_run_at IS NOT NULL;"
    "CREATE INDEX connectors_due_tenant ON connectors (tenant_id, next_run_at, id)"
    " WHERE status = 'active' AND next_run_at IS NOT NULL;"
    "CREATE INDEX sync_runs_running ON sync_runs (connector_id) WHERE status = 'running';";

/* Migration 9: the generation without one lock per tenant (docs/store.md "Generation").
 * On PostgreSQL every write used to UPDATE the tenant's row, whose lock is held until commit:
 * one tenant's write transactions committed one at a time, each waiting for the previous
 * one's fsync. The counter is now split into 16 shard rows per tenant (tenant_generations,
 * created with the tenant by a trigger, and here for the tenants already there); a writing
 * transaction locks a shard no other transaction holds (SKIP LOCKED) and adds one to it, so
 * up to 16 transactions of one tenant commit together. The generation is tenants.generation
 * plus the sum of the tenant's shards (store.c tenant_gen_sql): every commit that writes adds
 * at least one, and snapshots see commits in one order, so equal sums still mean equal
 * states. A transaction keeps the shard it took for a tenant (the transaction-local setting
 * ivory.generation_shard), so it never holds two shards of one tenant; only when all 16 are
 * held does it wait, for one. SQLite serialises all writers anyway: its triggers still bump
 * tenants.generation and its shard table stays empty. */
static const char m009_generation_shards[] =
    "CREATE TABLE tenant_generations ("
    " tenant_id TEXT NOT NULL,"
    " shard INTEGER NOT NULL,"
    " n BIGINT NOT NULL DEFAULT 0,"
    " PRIMARY KEY (tenant_id, shard));";

static const char m009_generation_shards_pg[] =
    "CREATE TABLE tenant_generations ("
    " tenant_id TEXT NOT NULL,"
    " shard INTEGER NOT NULL,"
    " n BIGINT NOT NULL DEFAULT 0,"
    " PRIMARY KEY (tenant_id, shard));"
    "CREATE OR REPLACE FUNCTION ivory_bump_generation() RETURNS trigger LANGUAGE plpgsql AS $$"
    " DECLARE"
    "  t TEXT := CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END;"
    "  held TEXT := current_setting('ivory.generation_shard', true);"
    "  k INTEGER;"
    " BEGIN"
    "  IF held IS NOT NULL AND held <> ''"
    "     AND substr(held, position(' ' IN held) + 1) = t THEN"
    "   k := split_part(held, ' ', 1)::integer;"
    "  ELSE"
    "   SELECT g.shard INTO k FROM tenant_generations g WHERE g.tenant_id = t"
    "    ORDER BY g.shard LIMIT 1 FOR UPDATE SKIP LOCKED;"
    "   IF k IS NULL THEN k := (txid_current() % 16)::integer; END IF;"
    "   PERFORM set_config('ivory.generation_shard', k || ' ' || t, true);"
    "  END IF;"
    "  INSERT INTO tenant_generations (tenant_id, shard, n) VALUES (t, k, 1)"
    "   ON CONFLICT (tenant_id, shard) DO UPDATE SET n = tenant_generations.n + 1;"
    "  RETURN NULL;"
    " END $$;"
    "CREATE FUNCTION ivory_generation_shards() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  INSERT INTO tenant_generations (tenant_id, shard, n)"
    "   SELECT NEW.id, k, 0 FROM generate_series(0, 15) AS k ON CONFLICT DO NOTHING;"
    "  RETURN NULL;"
    " END $$;"
    "CREATE TRIGGER tenants_gen_shards AFTER INSERT ON tenants"
    " FOR EACH ROW EXECUTE FUNCTION ivory_generation_shards();"
    "INSERT INTO tenant_generations (tenant_id, shard, n)"
    " SELECT t.id, k, 0 FROM tenants t CROSS JOIN generate_series(0, 15) AS k;";

/* { version, name, portable SQL, PostgreSQL's own text or NULL } */
const struct db_migration store_migrations[] = {
    {1, "init control plane", m001_init, NULL},
    {2, "tenant generation counter + latest-run index", m002_generation, m002_generation_pg},
    {3, "stream catalog and discovery requests", m003_discovery, NULL},
    {4, "tenant_catalogs.catalog_credential_enc", m004_catalog_credential, NULL},
    {5, "operations: schema drift, secret rotation, run progress", m005_ops, NULL},
    {6, "transform samples of a run", m006_transform_samples, NULL},
    {7, "schema changes a run applied", m007_schema_changes, NULL},
    {8, "due-selection indexes", m008_due_indexes, NULL},
    {9, "generation shards (no per-tenant row lock)", m009_generation_shards,
     m009_generation_shards_pg},
};
const size_t store_migrations_count = sizeof store_migrations / sizeof store_migrations[0];
