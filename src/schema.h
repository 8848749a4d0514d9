/*
 * schema.h - the SQL migrations embedded from schema/NNNN-name.sql at build time
 * (generated into build/gen/schema.c by scripts/embed-schema).
 * Migration i+1 is tf_schema_migrations[i]; PRAGMA user_version counts the
 * ones applied.
 */
#ifndef TF_SCHEMA_H
#define TF_SCHEMA_H

extern const char *const tf_schema_migrations[];
extern const int tf_schema_count;

#endif
