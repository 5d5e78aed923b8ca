package sqlite

// PrefixUpperBoundForTest exposes prefixUpperBound to the external test package.
var PrefixUpperBoundForTest = prefixUpperBound
