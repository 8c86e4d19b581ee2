package render

import (
	"maps"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"

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
	errs = append(errs, labelMap(lp, in.Labels)...)
	for k := range in.Labels {
		if reserved(k) {
			errs = append(errs, field.Forbidden(lp.Key(k), "app.kubernetes.io/ and slipway.dev/ labels are set by the chart"))
		}
	}
	errs = append(errs, labelMap(field.NewPath("ingressControllerNamespace"), in.IngressControllerNamespace)...)
	errs = append(errs, in.Ingress.validate(field.NewPath("ingress"))...)
	sp := field.NewPath("services")
	if len(in.Services) == 0 && len(in.Workers) == 0 {
		errs = append(errs, field.Required(sp, "at least one service or worker"))
	}
	seen := map[string]bool{}
	routes := map[string]string{}
	for i, s := range in.Services {
		p := sp.Index(i)
		errs = append(errs, componentName(p.Child("name"), s.Name, seen)...)
		if s.Port < 0 || s.Port > 65535 {
			errs = append(errs, field.Invalid(p.Child("port"), s.Port, "must be between 1 and 65535 (0 for the default)"))
		}
		if s.HealthPath != "" && !urlPath(s.HealthPath) {
			errs = append(errs, field.Invalid(p.Child("healthPath"), s.HealthPath, "must be an absolute URL path such as /healthz"))
		}
		errs = append(errs, s.Readiness.validate(p.Child("readiness"))...)
		errs = append(errs, s.Liveness.validate(p.Child("liveness"))...)
		errs = append(errs, validateWorkload(p, s.Replicas, s.Env, s.EnvFrom, s.Autoscaling, s.Disruption, s.RollingUpdate)...)
		for j, r := range s.Routes {
			rp := p.Child("routes").Index(j)
			if !urlPath(r) {
				errs = append(errs, field.Invalid(rp, r, "must be an absolute URL path such as /api"))
			}
			if other, dup := routes[r]; dup {
				errs = append(errs, field.Duplicate(rp, r+" (also routed to "+other+")"))
			}
			routes[r] = s.Name
		}
	}
	wp := field.NewPath("workers")
	for i, w := range in.Workers {
		p := wp.Index(i)
		errs = append(errs, componentName(p.Child("name"), w.Name, seen)...)
		errs = append(errs, validateWorkload(p, w.Replicas, w.Env, w.EnvFrom, w.Autoscaling, w.Disruption, w.RollingUpdate)...)
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

func labelMap(p *field.Path, labels map[string]string) field.ErrorList {
	var errs field.ErrorList
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		v := labels[k]
		for _, msg := range validation.IsQualifiedName(k) {
			errs = append(errs, field.Invalid(p.Key(k), k, msg))
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			errs = append(errs, field.Invalid(p.Key(k), v, msg))
		}
	}
	return errs
}

// componentName checks a service's or worker's name, which must be unique across both: it
// names the Deployment and the ServiceAccount.
func componentName(p *field.Path, name string, seen map[string]bool) field.ErrorList {
	errs := dnsLabel(p, name, maxServiceName)
	if seen[name] {
		errs = append(errs, field.Duplicate(p, name))
	}
	seen[name] = true
	return errs
}

// pathChars are the characters RFC 3986 allows in a URL path.
var pathChars = regexp.MustCompile(`^/[-A-Za-z0-9._~!$&'()*+,;=:@%/]*$`)

func urlPath(s string) bool {
	return len(s) <= 1024 && pathChars.MatchString(s)
}

func (ing Ingress) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, h := range ing.Hosts {
		hp := p.Child("hosts").Index(i)
		name := strings.TrimPrefix(h, "*.")
		for _, msg := range validation.IsDNS1123Subdomain(name) {
			errs = append(errs, field.Invalid(hp, h, msg))
		}
		if slices.Contains(ing.Hosts[:i], h) {
			errs = append(errs, field.Duplicate(hp, h))
		}
	}
	for name, v := range map[string]string{"tlsSecretName": ing.TLSSecretName, "className": ing.ClassName} {
		if v == "" {
			continue
		}
		for _, msg := range validation.IsDNS1123Subdomain(v) {
			errs = append(errs, field.Invalid(p.Child(name), v, msg))
		}
	}
	return errs
}

func (pr *Probe) validate(p *field.Path) field.ErrorList {
	if pr == nil {
		return nil
	}
	var errs field.ErrorList
	if pr.Path != "" && !urlPath(pr.Path) {
		errs = append(errs, field.Invalid(p.Child("path"), pr.Path, "must be an absolute URL path such as /ready"))
	}
	if pr.Port < 0 || pr.Port > 65535 {
		errs = append(errs, field.Invalid(p.Child("port"), pr.Port, "must be between 1 and 65535 (0 for the service's port)"))
	}
	if pr.InitialDelaySeconds < 0 {
		errs = append(errs, field.Invalid(p.Child("initialDelaySeconds"), pr.InitialDelaySeconds, "must not be negative"))
	}
	return errs
}

// validateWorkload checks what services and workers share.
func validateWorkload(p *field.Path, replicas int32, env []EnvVar, envFrom []EnvFrom, as *Autoscaling, d *Disruption, ru *RollingUpdate) field.ErrorList {
	var errs field.ErrorList
	if replicas < 0 {
		errs = append(errs, field.Invalid(p.Child("replicas"), replicas, "must not be negative"))
	}
	envSeen := map[string]bool{}
	for j, e := range env {
		ep := p.Child("env").Index(j).Child("name")
		if !envName.MatchString(e.Name) {
			errs = append(errs, field.Invalid(ep, e.Name, "must match "+envName.String()))
		}
		if envSeen[e.Name] {
			errs = append(errs, field.Duplicate(ep, e.Name))
		}
		envSeen[e.Name] = true
	}
	for j, e := range envFrom {
		ep := p.Child("envFrom").Index(j)
		if (e.ConfigMap == "") == (e.Secret == "") {
			errs = append(errs, field.Invalid(ep, e.ConfigMap+e.Secret, "set exactly one of configMap and secret"))
			continue
		}
		name, child := e.ConfigMap, "configMap"
		if e.Secret != "" {
			name, child = e.Secret, "secret"
		}
		for _, msg := range validation.IsDNS1123Subdomain(name) {
			errs = append(errs, field.Invalid(ep.Child(child), name, msg))
		}
	}
	if as != nil {
		ap := p.Child("autoscaling")
		if as.MaxReplicas < 1 {
			errs = append(errs, field.Invalid(ap.Child("maxReplicas"), as.MaxReplicas, "must be at least 1"))
		}
		if as.MinReplicas < 0 || as.MinReplicas > as.MaxReplicas {
			errs = append(errs, field.Invalid(ap.Child("minReplicas"), as.MinReplicas, "must be between 1 and maxReplicas"))
		}
		if as.TargetCPUUtilization < 0 || as.TargetCPUUtilization > 100 {
			errs = append(errs, field.Invalid(ap.Child("targetCPUUtilization"), as.TargetCPUUtilization, "must be a percentage between 1 and 100"))
		}
	}
	if d != nil {
		dp := p.Child("disruption")
		if (d.MinAvailable == nil) == (d.MaxUnavailable == nil) {
			errs = append(errs, field.Required(dp, "set exactly one of minAvailable and maxUnavailable"))
		}
		errs = append(errs, intOrPercent(dp.Child("minAvailable"), d.MinAvailable)...)
		errs = append(errs, intOrPercent(dp.Child("maxUnavailable"), d.MaxUnavailable)...)
	}
	if ru != nil {
		rp := p.Child("rollingUpdate")
		errs = append(errs, intOrPercent(rp.Child("maxSurge"), ru.MaxSurge)...)
		errs = append(errs, intOrPercent(rp.Child("maxUnavailable"), ru.MaxUnavailable)...)
		if isZero(ru.MaxSurge) && isZero(ru.MaxUnavailable) {
			errs = append(errs, field.Invalid(rp, "0", "maxSurge and maxUnavailable cannot both be zero"))
		}
	}
	return errs
}

var percent = regexp.MustCompile(`^[0-9]{1,3}%$`)

func intOrPercent(p *field.Path, v *intstr.IntOrString) field.ErrorList {
	switch {
	case v == nil:
		return nil
	case v.Type == intstr.Int && v.IntVal < 0:
		return field.ErrorList{field.Invalid(p, v.IntVal, "must not be negative")}
	case v.Type == intstr.String && !percent.MatchString(v.StrVal):
		return field.ErrorList{field.Invalid(p, v.StrVal, "must be a number or a percentage such as 25%")}
	}
	return nil
}

func isZero(v *intstr.IntOrString) bool {
	return v != nil && (v.Type == intstr.Int && v.IntVal == 0 || v.Type == intstr.String && v.StrVal == "0%")
}
