package dashboard

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/tollgate/tollgate/internal/session"
)

// The key and policy forms share their access-rule editor, limits, tags and
// metadata fields; these read them, marking every field at fault in errs (by the
// form's field name) so that the user sees all their mistakes at once.

// accessRules reads the access-rule editor (api, versions_<id>): each rule must
// name an API of the organisation (names). prev keeps what the form does not
// show (allowed_urls, per-API limits).
func accessRules(pf url.Values, names map[string]string, prev map[string]session.AccessDefinition, errs map[string]string) (map[string]session.AccessDefinition, []ruleForm) {
	rights := map[string]session.AccessDefinition{}
	var rules []ruleForm
	for _, id := range pf["api"] {
		if _, ok := names[id]; !ok {
			errs["access_rights"] = "API " + id + " does not exist."
			continue
		}
		var versions []string
		for v := range strings.SplitSeq(pf.Get("versions_"+id), ",") {
			if v = strings.TrimSpace(v); v != "" {
				versions = append(versions, v)
			}
		}
		if len(versions) == 0 {
			versions = []string{"Default"}
		}
		ad := prev[id]
		ad.APIID, ad.APIName, ad.Versions = id, names[id], versions
		rights[id] = ad
		rules = append(rules, ruleForm{ID: id, Name: names[id], Versions: strings.Join(versions, ",")})
	}
	return rights, rules
}

// formRules lists access rights for the editor, by API id.
func formRules(rights map[string]session.AccessDefinition, ids []string, names map[string]string) []ruleForm {
	var rules []ruleForm
	for _, id := range ids {
		rules = append(rules, ruleForm{ID: id, Name: cmpName(names[id], id), Versions: strings.Join(rights[id].Versions, ",")})
	}
	return rules
}

// parseRate reads "rate requests per per seconds"; disabled is -1 for both, as
// Tyk's dashboard writes "Disable rate limiting".
func parseRate(rateText, perText string, disabled bool, errs map[string]string) (rate, per float64) {
	if disabled {
		return -1, -1
	}
	rate, err1 := strconv.ParseFloat(rateText, 64)
	per, err2 := strconv.ParseFloat(perText, 64)
	if err1 != nil || rate <= 0 {
		errs["rate"] = "Enter how many requests are allowed (more than 0), or tick Disable rate limiting."
	}
	if err2 != nil || per <= 0 {
		errs["per"] = "Enter the number of seconds the requests are counted over (more than 0)."
	}
	return rate, per
}

// parseQuota reads the largest number of requests per quota period; unlimited
// is -1.
func parseQuota(text string, unlimited bool, errs map[string]string) session.Int {
	if unlimited {
		return -1
	}
	q, err := strconv.ParseInt(text, 10, 64)
	if err != nil || q < 1 {
		errs["quota_max"] = "Enter a whole number of requests (1 or more), or tick Unlimited requests."
	}
	return session.Int(q)
}

// chosen reads a select's value, which must be one of opts (a forged value is
// the field's fault, never stored).
func chosen(value string, opts []option, field, msg string, errs map[string]string) int64 {
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil || !slices.ContainsFunc(opts, func(o option) bool { return o.Value == value }) {
		errs[field] = msg
	}
	return n
}

// withCurrent adds a stored value that none of the presets hold, so that saving
// the form keeps it.
func withCurrent(opts []option, value, label string) []option {
	if slices.ContainsFunc(opts, func(o option) bool { return o.Value == value }) {
		return opts
	}
	return append(slices.Clone(opts), option{value, label})
}

// parseTags reads comma-separated tags.
func parseTags(text string, errs map[string]string) []string {
	var tags []string
	for t := range strings.SplitSeq(text, ",") {
		if t = strings.TrimSpace(t); t == "" {
			continue
		}
		if len(t) > 256 {
			errs["tags"] = "Each tag may be at most 256 characters long."
		}
		tags = append(tags, t)
	}
	return tags
}

// parseMeta reads metadata written one key=value a line.
func parseMeta(text string, errs map[string]string) map[string]any {
	meta := map[string]any{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) == "" {
			errs["meta_data"] = fmt.Sprintf("Line %d: write metadata as key=value.", i+1)
			break
		}
		meta[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return meta
}

// metaText writes metadata one key=value a line, sorted; values that are not
// strings as JSON.
func metaText(m map[string]any) string {
	var lines []string
	for k, v := range m {
		if str, ok := v.(string); ok {
			lines = append(lines, k+"="+str)
		} else if b, err := json.Marshal(v); err == nil {
			lines = append(lines, k+"="+string(b))
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// rateText words a rate limit.
func rateText(rate, per float64) string {
	if rate > 0 && per > 0 {
		return fmt.Sprintf("%s per %s s", fmtNum(rate), fmtNum(per))
	}
	return "unlimited"
}

// quotaText words a quota and its period.
func quotaText(quotaMax, renewal session.Int) string {
	if quotaMax <= 0 {
		return "unlimited"
	}
	if renewal <= 0 {
		return fmt.Sprintf("%d, never reset", quotaMax)
	}
	return fmt.Sprintf("%d per %s", quotaMax, durationText(int64(renewal)))
}

// throttleText words throttling (retries, interval).
func throttleText(interval float64, retries session.Int) string {
	if interval <= 0 || retries <= 0 {
		return "off"
	}
	return fmt.Sprintf("%d retries, %s s apart", retries, fmtNum(interval))
}

// durationText words a number of seconds in the largest unit that divides it.
func durationText(secs int64) string {
	for _, u := range []struct {
		n         int64
		one, many string
	}{{31536000, "year", "years"}, {604800, "week", "weeks"}, {86400, "day", "days"}, {3600, "hour", "hours"}, {60, "minute", "minutes"}} {
		if secs >= u.n && secs%u.n == 0 {
			if secs == u.n {
				return "1 " + u.one
			}
			return fmt.Sprintf("%d %s", secs/u.n, u.many)
		}
	}
	if secs == 1 {
		return "1 second"
	}
	return fmt.Sprintf("%d seconds", secs)
}
