#ifndef SECRETFS_CSQLITE3_SHIM_H
#define SECRETFS_CSQLITE3_SHIM_H
#include <sqlite3.h>

// SQLITE_TRANSIENT is a function-pointer cast macro Swift cannot import.
static inline sqlite3_destructor_type secretfs_sqlite_transient(void) { return SQLITE_TRANSIENT; }
// sqlite3_config is variadic. Memory statistics make every SQLite allocation take a global mutex;
// nothing here reads them, so they are turned off before the library initialises.
static inline int secretfs_sqlite_disable_memory_statistics(void) { return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }
#endif
