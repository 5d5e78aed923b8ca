package sqlite

// PrefixUpperBoundForTest exposes prefixUpperBound to the external test package.
var PrefixUpperBoundForTest = prefixUpperBound

// MigrateToForTest exposes migrateTo to the external test package.
var MigrateToForTest = migrateTo
