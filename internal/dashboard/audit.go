package dashboard

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/tollgate/tollgate/internal/audit"
	"github.com/tollgate/tollgate/internal/httpx"
	"github.com/tollgate/tollgate/internal/manage"
	"github.com/tollgate/tollgate/internal/store"
)

// dateLayout is the YYYY-MM-DD of Tyk's date parameters.
const dateLayout = "2006-01-02"

// dateRange checks two optional YYYY-MM-DD parameters, named fromName and toName,
// and that the first is not after the second. It returns them as given.
func dateRange(from, to, fromName, toName string) (string, string, error) {
	for _, p := range [][2]string{{fromName, from}, {toName, to}} {
		if p[1] == "" {
			continue
		}
		if _, err := time.Parse(dateLayout, p[1]); err != nil {
			return "", "", httpx.Errorf(http.StatusBadRequest, "%s must be a date as YYYY-MM-DD, not %q", p[0], p[1])
		}
	}
	if from != "" && to != "" && from > to {
		return "", "", httpx.Errorf(http.StatusBadRequest, "%s %s is after %s %s", fromName, from, toName, to)
	}
	return from, to, nil
}

// auditLogJSON is one entry of GET /api/audit-logs in Tyk's AuditLog shape. Tyk logs
// requests (method, url, status); Tollgate logs the changes the services make, so
// those three are absent and what changed is said by object_type, object_id and
// detail instead.
type auditLogJSON struct {
	ID         string `json:"_id"`
	OrgID      string `json:"org_id"`
	Date       string `json:"date"`
	Timestamp  int64  `json:"timestamp"`
	IP         string `json:"ip"`
	User       string `json:"user"`
	UserID     string `json:"user_id"`
	Action     string `json:"action"`
	ObjectType string `json:"object_type"`
	ObjectID   string `json:"object_id"`
	Detail     string `json:"detail"`
}

// tykDate is how Tyk writes an audit entry's date ("Tue, 05 Nov 2024 17:45:22 -03").
const tykDate = "Mon, 02 Jan 2006 15:04:05 -07"

func auditLogView(e store.AuditEntry) auditLogJSON {
	user := e.ActorEmail
	if user == "" {
		user = e.ActorID
	}
	return auditLogJSON{ID: strconv.FormatInt(e.ID, 10), OrgID: e.OrgID, Date: e.At.UTC().Format(tykDate), Timestamp: e.At.Unix(),
		IP: e.RemoteAddr, User: user, UserID: e.ActorID, Action: e.Action, ObjectType: e.ObjectType, ObjectID: e.ObjectID, Detail: e.Detail}
}

// auditQuery reads the query parameters of GET /api/audit-logs.
func auditQuery(r *http.Request) (f audit.Filter, page int, download bool, format string, err error) {
	q := r.URL.Query()
	for _, name := range []string{"method", "status", "url"} {
		if q.Get(name) != "" {
			return f, 0, false, "", httpx.Errorf(http.StatusBadRequest,
				"%s cannot filter: Tollgate's audit log records changes, not requests (filter by user, action, ip, from_date or to_date)", name)
		}
	}
	page = 1
	if v := q.Get("p"); v != "" {
		if page, err = strconv.Atoi(v); err != nil {
			return f, 0, false, "", httpx.Errorf(http.StatusBadRequest, "p must be a page number, not %q", v)
		}
	}
	from, to, err := dateRange(q.Get("from_date"), q.Get("to_date"), "from_date", "to_date")
	if err != nil {
		return f, 0, false, "", err
	}
	f = audit.Filter{User: q.Get("user"), Action: q.Get("action"), IP: q.Get("ip")}
	if from != "" {
		f.From, _ = time.Parse(dateLayout, from)
	}
	if to != "" {
		// to_date is the last day kept, whole.
		t, _ := time.Parse(dateLayout, to)
		f.To = t.AddDate(0, 0, 1)
	}
	if download, err = manage.ParseFlag("download", q.Get("download")); err != nil {
		return f, 0, false, "", httpx.Wording{}.Fault(err)
	}
	switch format = q.Get("type"); format {
	case "", "json", "csv":
	default:
		return f, 0, false, "", httpx.Errorf(http.StatusBadRequest, "type must be csv or json, not %q", format)
	}
	return f, page, download, format, nil
}

// listAuditLogs serves GET /api/audit-logs, Tyk's newer name for the audit log: the
// caller's organisation's entries, newest first, a page of the dashboard's page size
// (p <= 0: every entry), filtered by user, action, ip and dates; with download=true,
// every matching entry as a JSON or CSV file.
func (s *Server) listAuditLogs(w http.ResponseWriter, r *http.Request) error {
	f, page, download, format, err := auditQuery(r)
	if err != nil {
		return err
	}
	if download {
		page = 0
	}
	es, total, err := audit.List(r.Context(), s.opts.Store, caller(r).user.OrgID, f, page, pageSize)
	if err != nil {
		return err
	}
	out := make([]auditLogJSON, 0, len(es))
	for _, e := range es {
		out = append(out, auditLogView(e))
	}
	if !download {
		pages := max((total+pageSize-1)/pageSize, 1)
		return httpx.WriteJSON(w, http.StatusOK, map[string]any{"audit_logs": out, "pages": pages})
	}
	// A file, as Tyk serves it: application/octet-stream, its name saying what is
	// in it.
	w.Header().Set("Content-Type", "application/octet-stream")
	if format != "csv" {
		w.Header().Set("Content-Disposition", `attachment; filename="audit-logs.json"`)
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return enc.Encode(out)
	}
	w.Header().Set("Content-Disposition", `attachment; filename="audit-logs.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"_id", "org_id", "date", "timestamp", "ip", "user", "user_id", "action", "object_type", "object_id", "detail"})
	for _, e := range out {
		_ = cw.Write([]string{e.ID, e.OrgID, e.Date, strconv.FormatInt(e.Timestamp, 10), e.IP, csvSafe(e.User), e.UserID,
			e.Action, e.ObjectType, csvSafe(e.ObjectID), csvSafe(e.Detail)})
	}
	cw.Flush()
	return nil
}

// csvSafe keeps a field that a spreadsheet would run as a formula (it starts with =,
// +, - or @, and a user chose it: an API name, an alias) as text.
func csvSafe(v string) string {
	if v != "" && (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@') {
		return "'" + v
	}
	return v
}
