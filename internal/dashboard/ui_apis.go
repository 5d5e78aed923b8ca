package dashboard

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/tollgate/tollgate/internal/apidef"
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

// apiFormFaults shows a definition's faults at the form's fields; the auth settings the
// form has no place for are shown at the name.
var apiFormFaults = form{field: func(f string) string {
	switch f {
	case "name", "auth", "auth.auth_header_name":
		return "name"
	case "proxy.listen_path":
		return "listen_path"
	case "proxy.target_url":
		return "target_url"
	case "global_rate_limit":
		return "global_rate"
	}
	return ""
}}

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
	errs := map[string]string{}
	if f.Name == "" {
		errs["name"] = "Give the API a name."
	}
	rate, err1 := strconv.ParseFloat(f.GlobalRate, 64)
	per, err2 := strconv.ParseFloat(f.GlobalPer, 64)
	switch {
	case err1 != nil || err2 != nil || rate < 0 || per < 0:
		errs["global_rate"] = "Requests and seconds must be numbers, 0 or more."
	case rate > 0 && per <= 0:
		errs["global_rate"] = "Give the number of seconds the requests are counted over."
	}
	if len(errs) > 0 {
		u.showAPIForm(w, r, c, http.StatusBadRequest, f, errs, "Please correct the marked fields.")
		return nil
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
	var d *apidef.Definition
	if id == "" {
		d, err = u.apisOf(c).Create(r.Context(), body)
	} else {
		d, err = u.apisOf(c).Update(r.Context(), id, body)
	}
	if err != nil {
		ff, err := uiFault(err, "API", apiFormFaults)
		if ff == nil {
			return err
		}
		if ff.field == "" {
			u.showAPIForm(w, r, c, ff.status, f, errs, ff.msg)
			return nil
		}
		errs[ff.field] = ff.msg
		u.showAPIForm(w, r, c, ff.status, f, errs, "Please correct the marked fields.")
		return nil
	}
	u.sessions.setFlash(r.Context(), c.sess, "API “"+d.Name()+"” saved. API ID: "+d.APIID())
	http.Redirect(w, r, "/apis", http.StatusSeeOther)
	return nil
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
