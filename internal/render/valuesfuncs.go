package render

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"k8s.io/apimachinery/pkg/api/resource"
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
// hubBound function replaced by one that fails naming itself (a template
// that calls it gets an error that says why, not "function not defined"),
// and sprig's builders replaced by capped ones (see cappedBuilders).
func valuesFuncs() template.FuncMap {
	funcs := sprig.TxtFuncMap()
	for name, why := range hubBound() {
		funcs[name] = func(...any) (any, error) {
			return nil, fmt.Errorf("%s is not available in helm.values templates: it %s, so the render would depend on the hub, not on the repository", name, why)
		}
	}
	maps.Copy(funcs, cappedBuilders())
	return funcs
}

// cappedBuilders are sprig's functions whose result one short call can
// make far larger than its arguments (repeat 200000000 "x" is 200 MB),
// each refusing a result past maxBuiltBytes or maxBuiltItems before it
// builds it, and otherwise returning what sprig's does. A template can
// still grow a value by repeating a step (concatenating a string with
// itself in a loop); the render's time and memory limits bound that.
func cappedBuilders() template.FuncMap {
	return template.FuncMap{
		"repeat": func(count int, s string) (string, error) {
			if tooBig(count, len(s), 0) {
				return "", builtTooBig(fmt.Sprintf("%d copies of a %d-byte string", count, len(s)))
			}
			return strings.Repeat(s, count), nil
		},
		"indent": func(spaces int, s string) (string, error) {
			if tooBig(strings.Count(s, "\n")+1, spaces, len(s)) {
				return "", builtTooBig(fmt.Sprintf("%d spaces on each of %d lines", spaces, strings.Count(s, "\n")+1))
			}
			return indentLines(spaces, s), nil
		},
		"nindent": func(spaces int, s string) (string, error) {
			if tooBig(strings.Count(s, "\n")+1, spaces, len(s)+1) {
				return "", builtTooBig(fmt.Sprintf("%d spaces on each of %d lines", spaces, strings.Count(s, "\n")+1))
			}
			return "\n" + indentLines(spaces, s), nil
		},
		"replace": func(old, new, src string) (string, error) {
			if grow := len(new) - len(old); grow > 0 {
				if n := strings.Count(src, old); tooBig(n, grow, len(src)) {
					return "", builtTooBig(fmt.Sprintf("%d replacements %d bytes longer in a %d-byte string", n, grow, len(src)))
				}
			}
			return strings.ReplaceAll(src, old, new), nil
		},
		"until": func(count int) ([]int, error) {
			step := 1
			if count < 0 {
				step = -1
			}
			return cappedUntilStep(0, count, step)
		},
		"untilStep": func(start, stop, step int) ([]int, error) {
			return cappedUntilStep(start, stop, step)
		},
		"seq": cappedSeq,
	}
}

// tooBig reports whether count pieces of size bytes and extra bytes more
// pass maxBuiltBytes, without overflowing.
func tooBig(count, size, extra int) bool {
	if extra > maxBuiltBytes {
		return true
	}
	if count <= 0 || size <= 0 {
		return false
	}
	return count > (maxBuiltBytes-extra)/size
}

// builtTooBig is the refusal of a capped builder; the template's error
// names the function.
func builtTooBig(what string) error {
	return fmt.Errorf("%s would be more than %s, the most a helm.values template function may build", what, resource.NewQuantity(maxBuiltBytes, resource.BinarySI))
}

// indentLines is sprig's indent; a negative count panics in strings.Repeat as
// sprig's does, and the template reports it.
func indentLines(spaces int, s string) string {
	pad := strings.Repeat(" ", spaces)
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}

// cappedUntilStep is sprig's untilStep (start, start+step, ... short of
// stop), refused past maxBuiltItems; unlike sprig's, a step that would
// overflow past stop ends the list rather than looping forever.
func cappedUntilStep(start, stop, step int) ([]int, error) {
	n := stepCount(start, stop, step)
	if n > maxBuiltItems {
		return nil, fmt.Errorf("%d numbers would be more than %d, the most a helm.values template function may build", n, maxBuiltItems)
	}
	v := make([]int, n)
	for i, x := 0, start; i < len(v); i, x = i+1, x+step {
		v[i] = x
	}
	return v, nil
}

// stepCount is how many numbers start, start+step, ... lie before stop,
// in the direction of step, counted without overflow.
func stepCount(start, stop, step int) uint64 {
	switch {
	case stop > start && step > 0:
		return (uint64(stop)-uint64(start)-1)/uint64(step) + 1
	case stop < start && step < 0:
		return (uint64(start)-uint64(stop)-1)/(-uint64(step)) + 1
	}
	return 0
}

// cappedSeq is sprig's seq (as the shell's: "seq 3" is "1 2 3"; "seq 2 5",
// "seq 5 -2 1"), refused past maxBuiltItems numbers or maxBuiltBytes.
func cappedSeq(params ...int) (string, error) {
	var start, stop, step int
	switch len(params) {
	case 1:
		start, stop, step = 1, params[0], 1
	case 2:
		start, stop, step = params[0], params[1], 1
	case 3:
		start, stop, step = params[0], params[2], params[1]
	default:
		return "", nil
	}
	end := 1
	if stop < start {
		end = -1
		if len(params) == 1 || len(params) == 2 {
			step = -1
		} else if step > 0 {
			return "", nil
		}
	}
	nums, err := cappedUntilStep(start, stop+end, step)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for i, x := range nums {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(x))
		if b.Len() > maxBuiltBytes {
			return "", builtTooBig(fmt.Sprintf("%d numbers", len(nums)))
		}
	}
	return b.String(), nil
}
