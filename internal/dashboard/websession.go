package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/tollgate/tollgate/internal/accounts"
	"github.com/tollgate/tollgate/internal/store"
)

// Web sessions live in the store, so that every dashboard on one store serves every
// logged-in browser and a restart logs nobody out. The cookie holds a random token;
// the store keeps only its SHA-256, so a copy of the database logs nobody in.
const (
	sessionCookie   = "tollgate_session"
	loginCSRFCookie = "tollgate_login_csrf"
	sessionIdle     = 8 * time.Hour
	sessionMaxAge   = 24 * time.Hour
	// touchEvery is how stale a session's last-seen time may get before a
	// request writes it again: a page view must not be a database write, and a
	// minute is nothing against the 8-hour idle limit.
	touchEvery = time.Minute
	// keyDisplayTTL is how long a created key waits for the page that shows it.
	keyDisplayTTL = 5 * time.Minute
)

type webSession struct {
	// tokenHash is the hex SHA-256 of the cookie's token: the session's key in
	// the store.
	tokenHash string
	userID    string
	// stamp is accounts.SessionStamp of the user at login: when the password,
	// the access key or the active flag changes, the session no longer matches.
	stamp   [32]byte
	csrf    string
	created time.Time
	seen    time.Time
	flash   string
}

// webSessions is the web UI's sessions, kept in the store.
type webSessions struct {
	store store.WebSessionStore
	log   *slog.Logger
}

func newWebSessions(st store.WebSessionStore, log *slog.Logger) *webSessions {
	return &webSessions{store: st, log: log}
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashToken is how a token the browser holds is named in the store.
func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

func expired(s store.WebSession, now time.Time) bool {
	return now.Sub(s.SeenAt) > sessionIdle || now.Sub(s.CreatedAt) > sessionMaxAge
}

// create starts a session for a user and returns the cookie token.
func (ws *webSessions) create(ctx context.Context, u store.User, now time.Time) (string, *webSession, error) {
	tok := randomToken()
	s := &webSession{tokenHash: hashToken(tok), userID: u.ID, stamp: accounts.SessionStamp(u), csrf: randomToken(), created: now, seen: now}
	err := ws.store.CreateWebSession(ctx, store.WebSession{TokenHash: s.tokenHash, UserID: s.userID, Stamp: s.stamp[:], CSRF: s.csrf,
		CreatedAt: now, SeenAt: now})
	if err != nil {
		return "", nil, err
	}
	return tok, s, nil
}

// get returns the live session for the request's cookie: nil without one, and an
// error only when the store could not say (the caller then must not treat the
// browser as logged out).
func (ws *webSessions) get(r *http.Request, now time.Time) (*webSession, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	ctx, h := r.Context(), hashToken(c.Value)
	st, err := ws.store.GetWebSession(ctx, h)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if expired(st, now) {
		// The sweep would remove it too; removing it now keeps the table to
		// live sessions for whoever reads it.
		if err := ws.store.DeleteWebSession(ctx, h); err != nil {
			ws.log.Warn("end expired web session", "error", err.Error())
		}
		return nil, nil
	}
	if now.Sub(st.SeenAt) >= touchEvery {
		switch err := ws.store.TouchWebSession(ctx, h, now); {
		case errors.Is(err, store.ErrNotFound):
			return nil, nil // ended meanwhile (logout elsewhere)
		case err != nil:
			// The session was read, so it is live: a lost touch costs at
			// most a minute of idle time.
			ws.log.Warn("record web session use", "error", err.Error())
		default:
			st.SeenAt = now
		}
	}
	s := &webSession{tokenHash: h, userID: st.UserID, csrf: st.CSRF, created: st.CreatedAt, seen: st.SeenAt, flash: string(st.Flash)}
	copy(s.stamp[:], st.Stamp)
	return s, nil
}

// destroy ends the request's session, if it has one.
func (ws *webSessions) destroy(r *http.Request) error {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	return ws.store.DeleteWebSession(r.Context(), hashToken(c.Value))
}

// destroyUser ends every session of a user (deactivated, deleted, or with new
// credentials). It is a clean-up, not the guard: such sessions no longer match the
// user's stamp and end at their next request anyway, so a failure is only logged.
func (ws *webSessions) destroyUser(ctx context.Context, userID string) {
	if err := ws.store.DeleteUserWebSessions(ctx, userID); err != nil {
		ws.log.Warn("end a user's web sessions", "user_id", userID, "error", err.Error())
	}
}

// setFlash leaves msg for the session's next page. The change it reports is made;
// a flash the store did not take is only logged.
func (ws *webSessions) setFlash(ctx context.Context, s *webSession, msg string) {
	if err := ws.store.SetWebSessionFlash(ctx, s.tokenHash, []byte(msg)); err != nil {
		ws.log.Warn("set web session flash", "error", err.Error())
		return
	}
	s.flash = msg
}

// popFlash returns the session's flash once: of two pages that read it (two tabs,
// two dashboards), the one that clears it shows it.
func (ws *webSessions) popFlash(ctx context.Context, s *webSession) string {
	f := s.flash
	if f == "" {
		return ""
	}
	s.flash = ""
	ok, err := ws.store.ClearWebSessionFlash(ctx, s.tokenHash, []byte(f))
	if err != nil {
		ws.log.Warn("clear web session flash", "error", err.Error())
		return ""
	}
	if !ok {
		return ""
	}
	return f
}

// Sweep removes the web sessions and key displays that expired, so that their
// tables hold live ones only; the node runs it every few minutes.
func (s *Server) Sweep(ctx context.Context) error {
	now := s.now()
	_, errSessions := s.opts.Store.SweepWebSessions(ctx, now.Add(-sessionIdle), now.Add(-sessionMaxAge))
	_, errDisplays := s.opts.Store.SweepKeyDisplays(ctx, now)
	return errors.Join(errSessions, errDisplays)
}

func setCookie(w http.ResponseWriter, secure bool, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(maxAge.Seconds()),
	})
}

func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// createdKeys holds freshly created keys between the create POST and the page that
// shows them, so the key is shown exactly once and never travels in a URL. They are
// in the store, for any dashboard to show, sealed with the server's encryption key:
// the store never holds a key readable.
type createdKeys struct {
	store  store.KeyDisplayStore
	sealer *accounts.Sealer
	log    *slog.Logger
}

func newCreatedKeys(st store.KeyDisplayStore, sealer *accounts.Sealer, log *slog.Logger) *createdKeys {
	return &createdKeys{store: st, sealer: sealer, log: log}
}

// displayContext binds a sealed key to its display and creator, so that a sealed
// value copied to another row does not open.
func displayContext(idHash, userID string) string {
	return "key display\x00" + idHash + "\x00" + userID
}

// put keeps key for its creator for a few minutes and returns the display's id.
func (c *createdKeys) put(ctx context.Context, key, userID string, now time.Time) (string, error) {
	id := randomToken()
	h := hashToken(id)
	err := c.store.CreateKeyDisplay(ctx, store.KeyDisplay{IDHash: h, UserID: userID,
		Sealed: c.sealer.Seal(key, displayContext(h, userID)), ExpiresAt: now.Add(keyDisplayTTL)})
	if err != nil {
		return "", err
	}
	return id, nil
}

// take returns the key once, to the user who created it; "" when it is gone, was
// never theirs, or the store could not say (logged: the key page shows without it).
func (c *createdKeys) take(ctx context.Context, id, userID string, now time.Time) string {
	h := hashToken(id)
	d, err := c.store.TakeKeyDisplay(ctx, h, userID, now)
	if errors.Is(err, store.ErrNotFound) {
		return ""
	}
	if err != nil {
		c.log.Warn("take key display", "error", err.Error())
		return ""
	}
	key, err := c.sealer.Open(d.Sealed, displayContext(h, userID))
	if err != nil {
		c.log.Error("open key display", "error", err.Error())
		return ""
	}
	return key
}
