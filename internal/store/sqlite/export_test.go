package sqlite

// MigrateToForTest exposes migrateTo to the external test package.
var MigrateToForTest = migrateTo

// TrigramSearchesForTest makes every key search of db of 3 or more characters
// read the trigram index, however few keys there are to scan.
func TrigramSearchesForTest(db *DB) { db.plan = searchTrigram }

// ScanSearchesForTest makes every key search of db scan.
func ScanSearchesForTest(db *DB) { db.plan = searchScan }
