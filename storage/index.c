/*
 * index: creation of the SQLite index file. It holds nothing that cannot be rebuilt
 * from the repository.
 */
#include "config.h"

#include <stdio.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "err.h"
#include "index.h"

int index_create(const char *path)
{
	sqlite3 *db = NULL;
	char sql[256];
	struct stat st;
	int rc = 0;

	if (stat(path, &st) == 0)
		return err_set(ERR_EXISTS, "index '%s' already exists", path);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		rc = err_set(ERR_IO, "cannot create index '%s': %s", path, sqlite3_errmsg(db));
		goto out;
	}
	snprintf(sql, sizeof(sql),
		 "PRAGMA journal_mode=WAL;"
		 "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
		 "INSERT INTO meta VALUES('format', '%d');",
		 INDEX_FORMAT);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		rc = err_set(ERR_IO, "cannot set up index '%s': %s", path, sqlite3_errmsg(db));
out:
	sqlite3_close(db);
	return rc;
}
