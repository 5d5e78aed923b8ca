package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"

	"github.com/tollgate/tollgate/internal/store"
)

// secretVerifierSetting names the setting that holds the cluster's admin
// secret verifier.
const secretVerifierSetting = "admin_secret_verifier"

// errSecretDisagrees is the refusal of a node whose admin secret is not the
// cluster's.
var errSecretDisagrees = errors.New("this node's admin secret (--secret, --secret-file or TOLLGATE_SECRET) is not the one the other nodes on this database use: " +
	"a /tyk/ call would then work on some gateways and be refused on others. Give every node the same secret; " +
	"to change the cluster's secret, give every node the new one and start the first of them with --replace-cluster-secret true")

// checkClusterSecret makes the nodes sharing a store agree on the admin secret:
// the first node records a verifier of its secret in the store, and a node with
// another secret refuses to start (replace: records its own instead, for a
// rotation). The verifier is an HMAC of the secret under the encryption key,
// which every node shares already (CheckKey): someone who reads the database
// alone cannot test guesses against it.
func checkClusterSecret(ctx context.Context, st store.SettingStore, encKey []byte, secret string, replace bool, log *slog.Logger) error {
	mac := hmac.New(sha256.New, encKey)
	mac.Write([]byte("tollgate admin secret verifier v1\x00" + secret))
	v := hex.EncodeToString(mac.Sum(nil))
	if replace {
		if err := st.PutSetting(ctx, secretVerifierSetting, v); err != nil {
			return fmt.Errorf("record the cluster's admin secret: %w", err)
		}
		log.Warn("recorded this node's admin secret as the cluster's: nodes started with another one now refuse to start, running ones keep theirs until restarted")
		return nil
	}
	stored, err := st.InitSetting(ctx, secretVerifierSetting, v)
	if err != nil {
		return fmt.Errorf("check the cluster's admin secret: %w", err)
	}
	if !hmac.Equal([]byte(stored), []byte(v)) {
		return errSecretDisagrees
	}
	return nil
}
