-- The functions connect as members of `orderly_runtime`: they read and write rows and nothing else. The
-- schema belongs to the role that runs these migrations (the migrate function, with its own secret), so a
-- compromised function cannot drop, alter or create tables. The login role that holds the runtime
-- secret's credentials is made by whoever provisions the database (docs/security.md):
--   CREATE ROLE orderly_app LOGIN PASSWORD '…' IN ROLE orderly_runtime;
DO $$
BEGIN
    CREATE ROLE orderly_runtime NOLOGIN;
EXCEPTION
    WHEN duplicate_object THEN NULL; -- roles are per cluster; another database made it already
END
$$;

GRANT USAGE ON SCHEMA public TO orderly_runtime;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO orderly_runtime;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO orderly_runtime;
-- Tables and sequences later migrations create get the same grants.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO orderly_runtime;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO orderly_runtime;
-- Nobody but the owner creates objects here (PostgreSQL 15 already revokes this from PUBLIC; older
-- servers do not).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
