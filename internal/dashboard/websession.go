package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"github.com/tollgate/tollgate/internal/accounts"
	"github.com/tollgate/tollgate/internal/store"
)

// Web sessions live in memory: a restart logs everyone out, which is acceptable for
// an admin UI and keeps session tokens out of the database entirely. The cookie holds
// a random token; the server keeps only its SHA-256.
const (
	sessionCookie   = "tollgate_session"
	loginCSRFCookie = "tollgate_login_csrf"
	sessionIdle     = 8 * time.Hour
	sessionMaxAge   = 24 * time.Hour
)

type webSession struct {
	userID string
	// stamp is accounts.SessionStamp of the user at login: when the password,
	// the access key or the active flag changes, the session no longer matches.
	stamp   [32]byte
	csrf    string
	created time.Time
	seen    time.Time
	flash   string
}

type webSessions struct {
	mu sync.Mutex
	m  map[[32]byte]*webSession
}

func newWebSessions() *webSessions { return &webSessions{m: map[[32]byte]*webSession{}} }

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session for a user and returns the cookie token.
func (ws *webSessions) create(u store.User, now time.Time) (string, *webSession) {
	tok := randomToken()
	s := &webSession{userID: u.ID, stamp: accounts.SessionStamp(u), csrf: randomToken(), created: now, seen: now}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	// Drop expired sessions now and then so memory stays bounded by live ones.
	if len(ws.m) > 1000 {
		for k, v := range ws.m {
			if now.Sub(v.seen) > sessionIdle || now.Sub(v.created) > sessionMaxAge {
				delete(ws.m, k)
			}
		}
	}
	ws.m[sha256.Sum256([]byte(tok))] = s
	return tok, s
}

// get returns the live session for the request's cookie.
func (ws *webSessions) get(r *http.Request, now time.Time) *webSession {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	k := sha256.Sum256([]byte(c.Value))
	ws.mu.Lock()
	defer ws.mu.Unlock()
	s := ws.m[k]
	if s == nil {
		return nil
	}
	if now.Sub(s.seen) > sessionIdle || now.Sub(s.created) > sessionMaxAge {
		delete(ws.m, k)
		return nil
	}
	s.seen = now
	return s
}

func (ws *webSessions) destroy(r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		ws.mu.Lock()
		delete(ws.m, sha256.Sum256([]byte(c.Value)))
		ws.mu.Unlock()
	}
}

// destroyUser ends every session of a user (deleted or deactivated).
func (ws *webSessions) destroyUser(userID string) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for k, s := range ws.m {
		if s.userID == userID {
			delete(ws.m, k)
		}
	}
}

func (ws *webSessions) setFlash(s *webSession, msg string) {
	ws.mu.Lock()
	s.flash = msg
	ws.mu.Unlock()
}

func (ws *webSessions) popFlash(s *webSession) string {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	f := s.flash
	s.flash = ""
	return f
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
// shows them, so the key is shown exactly once and never travels in a URL.
type createdKeys struct {
	mu sync.Mutex
	m  map[string]createdKey
}

type createdKey struct {
	key, userID string
	expires     time.Time
}

func newCreatedKeys() *createdKeys { return &createdKeys{m: map[string]createdKey{}} }

func (c *createdKeys) put(key, userID string, now time.Time) string {
	id := randomToken()
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range c.m {
		if now.After(v.expires) {
			delete(c.m, k)
		}
	}
	c.m[id] = createdKey{key: key, userID: userID, expires: now.Add(5 * time.Minute)}
	return id
}

// take returns the key once, to the user who created it.
func (c *createdKeys) take(id, userID string, now time.Time) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[id]
	if !ok || v.userID != userID || now.After(v.expires) {
		return ""
	}
	delete(c.m, id)
	return v.key
}
