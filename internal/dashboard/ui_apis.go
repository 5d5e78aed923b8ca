package dashboard

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/tollgate/tollgate/internal/apidef"
	"github.com/tollgate/tollgate/internal/fault"
	"github.com/tollgate/tollgate/internal/manage"
	"github.com/tollgate/tollgate/internal/store"
)

func (u *ui) apisOf(c *uiCtx) *manage.APIs { return u.s.opts.APIs.InOrg(c.user.OrgID) }

type apiRow struct {
	ID, Name, ListenPath, Target, Versions string
	Keyless, Active                        bool
}

func apiRowOf(a store.API) apiRow {
	row := apiRow{ID: a.ID, Name: a.ID, Active: true, Versions: "Default"}
	if d, err := apidef.Parse(a.Definition); err == nil {
		p := d.Proxy()
		row.Name, row.ListenPath, row.Target, row.Keyless, row.Active = cmp.Or(d.Name(), a.ID), p.ListenPath, p.TargetURL, d.Keyless(), d.Active()
		if vd := d.VersionData(); len(vd.Versions) > 0 && !vd.NotVersioned {
			var names []string
			for n := range vd.Versions {
				names = append(names, n)
			}
			slices.Sort(names)
			row.Versions = strings.Join(names, ",")
		}
	}
	return row
}

func (u *ui) listAPIs(w http.ResponseWriter, r *http.Request, c *uiCtx) error {
	all, err := u.apisOf(c).List(r.Context())
	if err != nil {
		return err
	}
	rows := make([]apiRow, 0, len(all))
	for _, a := range all {
		rows = append(rows, apiRowOf(a))
	}
	u.render(w, r, c, http.StatusOK, "apis", view{"Title": "APIs", "Section": "apis", "Items": rows, "CanWrite": c.perms.Allows("apis", true)})
	return nil
}

// apiFields are the definition's fields the API form shows: the form's input for
// each, and the words the form uses for it in place of the JSON name that the
// service's reasons begin with.
var apiFields = map[string]struct{ input, words string }{
	"name":                  {"name", "The API name"},
	"proxy.listen_path":     {"listen_path", "The listen path"},
	"proxy.target_url":      {"target_url", "The target URL"},
	"auth.auth_header_name": {"auth_header", "The key header name"},
	"global_rate_limit":     {"global_rate", "The API-level rate limit"},
}

// apiFormFaults shows a definition's faults at the form's fields; those the form
// has no place for (auth settings it does not show, say) above it.
var apiFormFaults = form{field: func(f string) string { return apiFields[f].input }}

// inFormWords rewords a service's reason about field for the form: the JSON name
// it starts with ("proxy.listen_path", "auth: auth_header_name",
// "global_rate_limit:") becomes the form's words for the field, and it ends as a
// sentence.
func inFormWords(field, reason string) string {
	w, ok := apiFields[field]
	if !ok {
		return reason
	}
	name := field[strings.LastIndexByte(field, '.')+1:]
	rest := strings.TrimPrefix(reason, "auth: ")
	sep := " "
	switch {
	case strings.HasPrefix(rest, field+":"):
		// "global_rate_limit: per is too long": what follows is about a part.
		rest, sep = rest[len(field)+1:], ": "
	case strings.HasPrefix(rest, field):
		rest = rest[len(field):]
	case strings.HasPrefix(rest, name):
		rest = rest[len(name):]
	default:
		return reason
	}
	rest = strings.TrimSpace(rest)
	if !strings.HasSuffix(rest, ".") {
		rest += "."
	}
	return w.words + sep + rest
}

type apiForm struct {
	ID, Name, ListenPath, Target, AuthHeader, GlobalRate, GlobalPer string
	Strip, Active, Keyless                                          bool
}

func (u *ui) apiForm(w http.ResponseWriter, r *http.Request, c *uiCtx) error {
	f := apiForm{Strip: true, Active: true, AuthHeader: "Authorization", GlobalRate: "0", GlobalPer: "0"}
	id := r.PathValue("id")
	if id != "" {
		a, err := u.apisOf(c).Get(r.Context(), id)
		if err != nil {
			return pageError(err, "API", form{})
		}
		d, err := apidef.Parse(a.Definition)
		if err != nil {
			return err
		}
		p, g := d.Proxy(), d.GlobalRateLimit()
		f = apiForm{ID: id, Name: d.Name(), ListenPath: p.ListenPath, Target: p.TargetURL, AuthHeader: d.AuthToken().AuthHeaderName,
			GlobalRate: fmtNum(g.Rate), GlobalPer: fmtNum(g.Per), Strip: p.StripListenPath, Active: d.Active(), Keyless: d.Keyless()}
	}
	u.showAPIForm(w, r, c, http.StatusOK, f, nil, "")
	return nil
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func (u *ui) showAPIForm(w http.ResponseWriter, r *http.Request, c *uiCtx, status int, f apiForm, errs map[string]string, msg string) {
	title := "Create API"
	if f.ID != "" {
		title = "Edit API"
	}
	u.render(w, r, c, status, "api_form", view{"Title": title, "Section": "apis", "Form": f, "IsNew": f.ID == "", "Errors": errs, "Error": msg})
}

func (u *ui) saveAPI(w http.ResponseWriter, r *http.Request, c *uiCtx) error {
	id := r.PathValue("id")
	f := apiForm{ID: id, Name: strings.TrimSpace(r.PostFormValue("name")), ListenPath: strings.TrimSpace(r.PostFormValue("listen_path")),
		Target: strings.TrimSpace(r.PostFormValue("target_url")), AuthHeader: cmp.Or(strings.TrimSpace(r.PostFormValue("auth_header")), "Authorization"),
		GlobalRate: cmp.Or(strings.TrimSpace(r.PostFormValue("global_rate")), "0"), GlobalPer: cmp.Or(strings.TrimSpace(r.PostFormValue("global_per")), "0"),
		Strip: r.PostFormValue("strip") != "", Active: r.PostFormValue("active") != "", Keyless: r.PostFormValue("auth") == "keyless"}
	// The rate limit is read (and worded) here; the service checks the rest,
	// every field at once.
	errs := map[string]string{}
	rate, err1 := strconv.ParseFloat(f.GlobalRate, 64)
	per, err2 := strconv.ParseFloat(f.GlobalPer, 64)
	switch {
	case err1 != nil || err2 != nil || rate < 0 || per < 0:
		errs["global_rate"] = "Requests and seconds must be numbers, 0 or more."
		rate, per = 0, 0
	case rate > 0 && per <= 0:
		errs["global_rate"] = "Give the number of seconds the requests are counted over."
	}
	// Start from the stored document so fields the form does not show are kept.
	def := map[string]any{}
	if id != "" {
		a, err := u.apisOf(c).Get(r.Context(), id)
		if err != nil {
			return pageError(err, "API", form{})
		}
		if err := json.Unmarshal(a.Definition, &def); err != nil {
			return err
		}
	} else {
		def["version_data"] = map[string]any{"not_versioned": true, "versions": map[string]any{"Default": map[string]any{"name": "Default"}}}
	}
	proxy, _ := def["proxy"].(map[string]any)
	if proxy == nil {
		proxy = map[string]any{}
	}
	proxy["listen_path"], proxy["target_url"], proxy["strip_listen_path"] = f.ListenPath, f.Target, f.Strip
	def["proxy"], def["name"], def["active"], def["use_keyless"] = proxy, f.Name, f.Active, f.Keyless
	auth, _ := def["auth"].(map[string]any)
	if auth == nil {
		auth = map[string]any{}
	}
	auth["auth_header_name"] = f.AuthHeader
	def["auth"] = auth
	if ac, ok := def["auth_configs"].(map[string]any); ok {
		if tok, ok := ac["authToken"].(map[string]any); ok {
			tok["auth_header_name"] = f.AuthHeader
		}
	}
	def["global_rate_limit"] = map[string]any{"rate": rate, "per": per}
	body, err := json.Marshal(def)
	if err != nil {
		return err
	}
	svc := u.apisOf(c)
	if len(errs) > 0 {
		// The form is refused already; the service says what else is wrong, so
		// that every mistake is marked at once.
		status, msg, err := apiFaults(svc.Check(r.Context(), id, body), errs)
		if err != nil {
			return err
		}
		u.showAPIForm(w, r, c, cmp.Or(status, http.StatusBadRequest), f, errs, cmp.Or(msg, "Please correct the marked fields."))
		return nil
	}
	var d *apidef.Definition
	if id == "" {
		d, err = svc.Create(r.Context(), body)
	} else {
		d, err = svc.Update(r.Context(), id, body)
	}
	if err != nil {
		status, msg, err := apiFaults(err, errs)
		if err != nil {
			return err
		}
		u.showAPIForm(w, r, c, status, f, errs, cmp.Or(msg, "Please correct the marked fields."))
		return nil
	}
	u.sessions.setFlash(r.Context(), c.sess, "API “"+d.Name()+"” saved. API ID: "+d.APIID())
	http.Redirect(w, r, "/apis", http.StatusSeeOther)
	return nil
}

// apiFaults puts the service's faults in err at the API form's fields, in the
// form's words, keeping what the form found itself; status is the first fault's,
// and msg the reason of one the form has no field for. An error that is no fault
// of the input (a missing API, a store failure) comes back as err, for an error
// page.
func apiFaults(err error, errs map[string]string) (status int, msg string, _ error) {
	for _, ft := range fault.All(err) {
		ff, err := uiFault(ft, "API", apiFormFaults)
		if ff == nil {
			return 0, "", err
		}
		status = cmp.Or(status, ff.status)
		switch {
		case ff.field == "":
			msg = cmp.Or(msg, ff.msg)
		case errs[ff.field] == "":
			errs[ff.field] = inFormWords(ft.Field, ff.msg)
		}
	}
	return status, msg, nil
}

func (u *ui) deleteAPI(w http.ResponseWriter, r *http.Request, c *uiCtx) error {
	id := r.PathValue("id")
	if err := u.apisOf(c).Delete(r.Context(), id); err != nil {
		return pageError(err, "API", form{})
	}
	u.sessions.setFlash(r.Context(), c.sess, "API deleted.")
	http.Redirect(w, r, "/apis", http.StatusSeeOther)
	return nil
}
