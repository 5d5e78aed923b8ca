package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
)

const apisUsage = `usage: tollgate apis <command> [flags]

Commands:
  list                  list APIs: api id, name, listen path, target, auth
  create                create an API from flags, or from --file (a Tyk classic API definition)

Run "tollgate apis <command> -h" for its flags.
`

// apis is `tollgate apis`, a client of the Dashboard API's /api/apis.
var apis = group{name: "apis", usage: apisUsage, order: []string{"list", "create"},
	commands: map[string]command{"list": apisList, "create": apisCreate}}

// APIs runs `tollgate apis <list|create>`.
func APIs(args []string, env Env) error { return apis.run(args, env) }

func apisList(fs *flag.FlagSet, cf *commonFlags, args []string, env Env) error {
	c, err := start(fs, cf, args, env, "apis list [flags]", 0)
	if err != nil {
		return err
	}
	raw, printed, err := c.fetch("/api/apis?p=-1")
	if err != nil || printed {
		return err
	}
	var list struct {
		APIs []struct {
			Def struct {
				APIID      string `json:"api_id"`
				Name       string `json:"name"`
				UseKeyless bool   `json:"use_keyless"`
				Proxy      struct {
					ListenPath string `json:"listen_path"`
					TargetURL  string `json:"target_url"`
				} `json:"proxy"`
			} `json:"api_definition"`
		} `json:"apis"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("API list reply: %w", err)
	}
	var rows [][]string
	for _, a := range list.APIs {
		auth := "key"
		if a.Def.UseKeyless {
			auth = "keyless"
		}
		rows = append(rows, []string{a.Def.APIID, a.Def.Name, a.Def.Proxy.ListenPath, a.Def.Proxy.TargetURL, auth})
	}
	c.table("API ID\tNAME\tLISTEN PATH\tTARGET\tAUTH", rows)
	return nil
}

func apisCreate(fs *flag.FlagSet, cf *commonFlags, args []string, env Env) error {
	file := fs.String("file", "", "Tyk classic API definition file (- for stdin); or use the flags below")
	name := fs.String("name", "", "API name")
	listen := fs.String("listen-path", "", "listen path, e.g. /orders/")
	target := fs.String("target", "", "upstream URL")
	keyless := fs.Bool("keyless", false, "no key needed")
	strip := fs.Bool("strip", true, "strip the listen path before proxying")
	c, err := start(fs, cf, args, env, "apis create --name NAME --listen-path PATH --target URL [flags] | --file api.json", 0)
	if err != nil {
		return err
	}
	var body []byte
	if *file != "" {
		if body, err = readFile(*file, env.Stdin); err != nil {
			return err
		}
	} else {
		if *name == "" || *listen == "" || *target == "" {
			return usageError{errors.New("give --file, or --name, --listen-path and --target")}
		}
		body, _ = json.Marshal(map[string]any{"api_definition": map[string]any{
			"name": *name, "use_keyless": *keyless, "active": true,
			"auth":         map[string]any{"auth_header_name": "Authorization"},
			"version_data": map[string]any{"not_versioned": true, "versions": map[string]any{"Default": map[string]any{"name": "Default"}}},
			"proxy":        map[string]any{"listen_path": *listen, "target_url": *target, "strip_listen_path": *strip},
		}})
	}
	// ID is the api_id keys name; Meta the database id Tyk's tools index by.
	return c.send(http.MethodPost, "/api/apis", body, func(r envelope) string { return "API created: " + r.ID + " (id " + r.Meta + ")" })
}
