package render

import (
	"fmt"
	"text/template"

	"github.com/Masterminds/sprig/v3"
)

// hubBound names the sprig functions ${ } templating refuses, each with
// what it would read. Fleet's controller drops only env and expandenv;
// here a render depends on the repository and the cluster alone, so
// anything that reads the hub's network, environment, clock, time zone
// or randomness goes: it would leak the hub's state into values (and so
// to clusters), let a repository probe the hub's network, and give every
// render different bytes, defeating shared renders. sprig's own
// non-hermetic list (HermeticTxtFuncMap) is a subset; TestHubBound
// checks that it stays so.
func hubBound() map[string]string {
	return map[string]string{
		"getHostByName": "resolves names through the hub's network",
		"env":           "reads the hub's environment",
		"expandenv":     "reads the hub's environment",

		"now":              "reads the hub's clock",
		"ago":              "reads the hub's clock",
		"date":             "reads the hub's clock and time zone",
		"date_in_zone":     "reads the hub's clock and time zone database",
		"dateInZone":       "reads the hub's clock and time zone database",
		"htmlDate":         "reads the hub's clock and time zone",
		"htmlDateInZone":   "reads the hub's clock and time zone database",
		"date_modify":      "works on the hub's clock",
		"dateModify":       "works on the hub's clock",
		"must_date_modify": "works on the hub's clock",
		"mustDateModify":   "works on the hub's clock",
		"toDate":           "reads the hub's time zone",
		"mustToDate":       "reads the hub's time zone",

		"randAlphaNum":             "draws random numbers",
		"randAlpha":                "draws random numbers",
		"randAscii":                "draws random numbers",
		"randNumeric":              "draws random numbers",
		"randBytes":                "draws random numbers",
		"randInt":                  "draws random numbers",
		"shuffle":                  "draws random numbers",
		"uuidv4":                   "draws random numbers",
		"bcrypt":                   "draws a random salt",
		"htpasswd":                 "draws a random salt",
		"encryptAES":               "draws a random IV",
		"genPrivateKey":            "draws a random key",
		"genCA":                    "draws a random key",
		"genCAWithKey":             "draws a random serial",
		"genSelfSignedCert":        "draws a random key",
		"genSelfSignedCertWithKey": "draws a random serial",
		"genSignedCert":            "draws a random key",
		"genSignedCertWithKey":     "draws a random serial",
	}
}

// valuesFuncs is sprig's function map for ${ } templating, with every
// hubBound function replaced by one that fails naming itself: a template
// that calls it gets an error that says why, not "function not defined".
func valuesFuncs() template.FuncMap {
	funcs := sprig.TxtFuncMap()
	for name, why := range hubBound() {
		funcs[name] = func(...any) (any, error) {
			return nil, fmt.Errorf("%s is not available in helm.values templates: it %s, so the render would depend on the hub, not on the repository", name, why)
		}
	}
	return funcs
}
