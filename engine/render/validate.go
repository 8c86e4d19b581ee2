package render

import (
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	// digestRef is an image reference pinned by digest. The chart checks the same pattern.
	digestRef = regexp.MustCompile(`^[^@\s]+@sha256:[a-f0-9]{64}$`)
	envName   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// maxServiceName leaves room in 63-character label values for the suffixes Kubernetes adds to
// pod and ReplicaSet names.
const maxServiceName = 40

// validate reports every problem with in at once, each naming its field.
func (in Input) validate() error {
	var errs field.ErrorList
	errs = append(errs, dnsLabel(field.NewPath("app"), in.App, 40)...)
	errs = append(errs, dnsLabel(field.NewPath("env"), in.Env, 20)...)
	errs = append(errs, dnsLabel(field.NewPath("namespace"), in.Namespace, validation.DNS1123LabelMaxLength)...)
	if !digestRef.MatchString(in.Image) {
		errs = append(errs, field.Invalid(field.NewPath("image"), in.Image,
			"must be pinned by digest: <repository>@sha256:<64 hex digits>"))
	}
	lp := field.NewPath("labels")
	for k, v := range in.Labels {
		for _, msg := range validation.IsQualifiedName(k) {
			errs = append(errs, field.Invalid(lp.Key(k), k, msg))
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			errs = append(errs, field.Invalid(lp.Key(k), v, msg))
		}
		if reserved(k) {
			errs = append(errs, field.Forbidden(lp.Key(k), "app.kubernetes.io/ and slipway.dev/ labels are set by the chart"))
		}
	}
	sp := field.NewPath("services")
	if len(in.Services) == 0 {
		errs = append(errs, field.Required(sp, "at least one service"))
	}
	seen := map[string]bool{}
	for i, s := range in.Services {
		p := sp.Index(i)
		errs = append(errs, dnsLabel(p.Child("name"), s.Name, maxServiceName)...)
		if seen[s.Name] {
			errs = append(errs, field.Duplicate(p.Child("name"), s.Name))
		}
		seen[s.Name] = true
		if s.Port < 0 || s.Port > 65535 {
			errs = append(errs, field.Invalid(p.Child("port"), s.Port, "must be between 1 and 65535 (0 for the default)"))
		}
		if s.Replicas < 0 {
			errs = append(errs, field.Invalid(p.Child("replicas"), s.Replicas, "must not be negative"))
		}
		if s.HealthPath != "" && (!strings.HasPrefix(s.HealthPath, "/") || strings.ContainsAny(s.HealthPath, " \t\r\n")) {
			errs = append(errs, field.Invalid(p.Child("healthPath"), s.HealthPath, "must be an absolute URL path such as /healthz"))
		}
		envSeen := map[string]bool{}
		for j, e := range s.Env {
			ep := p.Child("env").Index(j).Child("name")
			if !envName.MatchString(e.Name) {
				errs = append(errs, field.Invalid(ep, e.Name, "must match "+envName.String()))
			}
			if envSeen[e.Name] {
				errs = append(errs, field.Duplicate(ep, e.Name))
			}
			envSeen[e.Name] = true
		}
	}
	return errs.ToAggregate()
}

func dnsLabel(p *field.Path, v string, maxLen int) field.ErrorList {
	if v == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(v) {
		errs = append(errs, field.Invalid(p, v, msg))
	}
	if len(v) > maxLen {
		errs = append(errs, field.TooLong(p, v, maxLen))
	}
	return errs
}

func reserved(label string) bool {
	prefix, _, ok := strings.Cut(label, "/")
	return ok && (prefix == "app.kubernetes.io" || prefix == "slipway.dev" || strings.HasSuffix(prefix, ".slipway.dev"))
}
