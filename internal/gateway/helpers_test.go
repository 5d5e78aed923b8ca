package gateway

import "github.com/tollgate/tollgate/internal/keys"

func keysSum(k string) keys.Hash { return keys.Sum(k) }
