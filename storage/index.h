/*
 * index: the SQLite file beside the repository (index.db), derived entirely from it.
 * This module creates it; queries and catch-up live here as they are added.
 */
#ifndef CASELEDGER_INDEX_H
#define CASELEDGER_INDEX_H

#define INDEX_FORMAT 1

/* Create an empty index database at path (WAL mode, format row). ERR_EXISTS if present. */
int index_create(const char *path);

#endif
