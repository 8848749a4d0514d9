/*
 * schema.h - the SQL migrations embedded from schema/<engine>/NNNN-name.sql at
 * build time (generated into build/gen/schema-<engine>.c by scripts/embed-schema).
 * Migration i+1 of SQLite is tf_schema_sqlite[i]; PRAGMA user_version counts
 * the ones applied.
 */
#ifndef TF_SCHEMA_H
#define TF_SCHEMA_H

extern const char *const tf_schema_sqlite[];
extern const int tf_schema_sqlite_count;
/* PostgreSQL's: tickflow_schema.version counts the ones applied. */
extern const char *const tf_schema_postgres[];
extern const int tf_schema_postgres_count;

#endif
