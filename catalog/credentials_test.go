package catalog_test

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"slipway.dev/slipway/catalog"
	"slipway.dev/slipway/engine/localrunner"
	"slipway.dev/slipway/pipelines"
)

// The credential split: every credential a run carries arrives in one pipeline workspace, bound
// by the PipelineRun to a Secret, and that workspace reaches exactly the task workspaces listed
// here and no other. No task gets the config-repo or cluster credentials: the engine writes the
// config repo and talks to the cluster itself, and the runs' pods mount no API token.

// credential is one kind of secret a run may carry.
type credential struct {
	what string
	// workspace is the pipelines' workspace it is bound to.
	workspace string
	// reaches are the task/workspace pairs it may be bound to, all of them.
	reaches []string
	// env, when set, is the variable the steps read the workspace's path from.
	env string
}

// registryTasks are the tasks that talk to the registry: the builds push, reuse-image looks up
// and read-image adds a tag, trivy-scan pulls, cosign-sign pushes signatures and attestations.
var registryTasks = []string{"buildpacks-build", "cosign-sign", "go-build", "kaniko-build", "read-image", "reuse-image", "trivy-scan"}

var credentials = []credential{
	{what: "the image signing key", workspace: "signing-key", reaches: []string{"cosign-sign/signing-key"}},
	{what: "the keyless signing identity token", workspace: "identity-token", reaches: []string{"cosign-sign/identity-token"}},
	{what: "the Git provider's commit-status token", workspace: "status-token", reaches: []string{"report-status/credentials"}},
	{what: "the registry credentials", workspace: "registry-credentials", reaches: withWorkspace(registryTasks, "registry-credentials"), env: "DOCKER_CONFIG"},
}

func withWorkspace(tasks []string, ws string) []string {
	out := make([]string, len(tasks))
	for i, t := range tasks {
		out[i] = t + "/" + ws
	}
	return out
}

// credentialOf returns the credential a task workspace may carry, if any.
func credentialOf(taskWorkspace string) *credential {
	for i := range credentials {
		if slices.Contains(credentials[i].reaches, taskWorkspace) {
			return &credentials[i]
		}
	}
	return nil
}

// credentialName matches names that suggest key material or credentials.
var credentialName = regexp.MustCompile(`(?i)key|secret|credential|token|passw|kubeconfig|ssh|docker-?config|auth|cert`)

// forbiddenEnv are variables through which a step could get the signing key, the config repo,
// the cluster or registry credentials; DOCKER_CONFIG is allowed only as the path of a
// registry-credentials workspace.
var forbiddenEnv = regexp.MustCompile(`(?i)^(COSIGN_|SIGSTORE_|KUBECONFIG$|KUBERNETES_|GIT_ASKPASS$|GIT_SSH|SSH_AUTH_SOCK$|DOCKER_CONFIG$|REGISTRY_AUTH|CNB_REGISTRY_AUTH$)`)

// checkTask returns every way task (its spec) could see a credential it must not, and every
// listed credential workspace it declares but never hands its steps.
func checkTask(task string, ts *tektonv1.TaskSpec) []string {
	var bad []string
	declared := map[string]*credential{}
	for _, w := range ts.Workspaces {
		if c := credentialOf(task + "/" + w.Name); c != nil {
			declared[w.Name] = c
			continue
		}
		if credentialName.MatchString(w.Name) {
			bad = append(bad, fmt.Sprintf("%s: workspace %q looks like a credential but is not listed in credentials", task, w.Name))
		}
	}
	for _, v := range ts.Volumes {
		bad = append(bad, fmt.Sprintf("%s: declares volume %q; credentials come only through listed workspaces", task, v.Name))
	}
	containers := map[string]*corev1.Container{}
	if ts.StepTemplate != nil {
		containers["stepTemplate"] = &corev1.Container{Env: ts.StepTemplate.Env, EnvFrom: ts.StepTemplate.EnvFrom, VolumeMounts: ts.StepTemplate.VolumeMounts}
	}
	for _, s := range ts.Steps {
		containers["step "+s.Name] = &corev1.Container{Env: s.Env, EnvFrom: s.EnvFrom, VolumeMounts: s.VolumeMounts}
	}
	for _, s := range ts.Sidecars {
		containers["sidecar "+s.Name] = &corev1.Container{Env: s.Env, EnvFrom: s.EnvFrom, VolumeMounts: s.VolumeMounts}
	}
	used := map[string]bool{}
	for where, c := range containers {
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				bad = append(bad, fmt.Sprintf("%s %s: env %s reads Secret %q", task, where, e.Name, e.ValueFrom.SecretKeyRef.Name))
			}
			allowed := false
			for ws, cred := range declared {
				if cred.env != "" && e.Name == cred.env && e.Value == "$(workspaces."+ws+".path)" {
					allowed, used[ws] = true, true
				}
			}
			if forbiddenEnv.MatchString(e.Name) && !allowed {
				bad = append(bad, fmt.Sprintf("%s %s: sets env %s=%q", task, where, e.Name, e.Value))
			}
		}
		for _, ef := range c.EnvFrom {
			if ef.SecretRef != nil {
				bad = append(bad, fmt.Sprintf("%s %s: envFrom Secret %q", task, where, ef.SecretRef.Name))
			}
		}
		for _, m := range c.VolumeMounts {
			bad = append(bad, fmt.Sprintf("%s %s: mounts volume %q at %s", task, where, m.Name, m.MountPath))
		}
	}
	for ws, cred := range declared {
		if cred.env != "" && !used[ws] {
			bad = append(bad, fmt.Sprintf("%s: declares %s workspace %q but no step reads it as %s", task, cred.what, ws, cred.env))
		}
	}
	return bad
}

// checkPipeline returns every way p hands a credential to a task workspace not listed for it,
// or leaves a listed task of its without it, and every inline task spec that breaks checkTask.
func checkPipeline(p *tektonv1.Pipeline, taskSpec func(name string) (*tektonv1.TaskSpec, error)) []string {
	var bad []string
	users := map[string][]string{} // pipeline workspace -> "task/workspace" bound to it
	used := map[string]bool{}      // catalog tasks the pipeline runs
	for _, pt := range append(append([]tektonv1.PipelineTask{}, p.Spec.Tasks...), p.Spec.Finally...) {
		name := pt.Name
		switch {
		case pt.TaskRef != nil:
			name = pt.TaskRef.Name
			if _, err := taskSpec(name); err != nil {
				bad = append(bad, fmt.Sprintf("%s: pipeline task %s: %v", p.Name, pt.Name, err))
				continue
			}
			used[name] = true
		case pt.TaskSpec != nil:
			bad = append(bad, checkTask(p.Name+"/"+pt.Name, &pt.TaskSpec.TaskSpec)...)
		}
		for _, b := range pt.Workspaces {
			users[b.Workspace] = append(users[b.Workspace], name+"/"+b.Name)
		}
	}
	byWorkspace := map[string]*credential{}
	for i := range credentials {
		byWorkspace[credentials[i].workspace] = &credentials[i]
	}
	for _, w := range p.Spec.Workspaces {
		u := users[w.Name]
		cred := byWorkspace[w.Name]
		if cred == nil {
			if credentialName.MatchString(w.Name) {
				bad = append(bad, fmt.Sprintf("%s: workspace %q looks like a credential but is not listed in credentials", p.Name, w.Name))
			}
			for _, tw := range u {
				if c := credentialOf(tw); c != nil {
					bad = append(bad, fmt.Sprintf("%s: workspace %q reaches %s, which is for %s only", p.Name, w.Name, tw, c.what))
				}
			}
			continue
		}
		for _, tw := range u {
			if !slices.Contains(cred.reaches, tw) {
				bad = append(bad, fmt.Sprintf("%s: %s (workspace %q) reaches %s", p.Name, cred.what, w.Name, tw))
			}
		}
		// Every listed task the pipeline runs gets it, or its registry access fails.
		for _, tw := range cred.reaches {
			task, _, _ := strings.Cut(tw, "/")
			if used[task] && !slices.Contains(u, tw) {
				bad = append(bad, fmt.Sprintf("%s: %s (workspace %q) does not reach %s", p.Name, cred.what, w.Name, tw))
			}
		}
	}
	return bad
}

func catalogTaskSpec(name string) (*tektonv1.TaskSpec, error) {
	t, err := catalog.Task(name, "")
	if err != nil {
		return nil, err
	}
	return &t.Spec, nil
}

func TestCredentialSplit(t *testing.T) {
	refs, err := catalog.List()
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	for _, r := range refs {
		task, err := catalog.Task(r.Name, r.Version)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range task.Spec.Workspaces {
			declared[r.Name+"/"+w.Name] = true
		}
		for _, problem := range checkTask(r.Name, &task.Spec) {
			t.Error(problem)
		}
	}
	for _, c := range credentials {
		for _, tw := range c.reaches {
			if !declared[tw] {
				t.Errorf("%s is listed for %s but no task declares it", tw, c.what)
			}
		}
	}
	for _, name := range pipelines.Names() {
		p, err := pipelines.Pipeline(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, problem := range checkPipeline(p, catalogTaskSpec) {
			t.Error(problem)
		}
	}
}

// TestCredentialReach spells the split out: in each pipeline, the signing key and the keyless
// identity token reach the sign task only, the status token the report task only, and the
// registry credentials exactly the tasks that talk to the registry.
func TestCredentialReach(t *testing.T) {
	want := map[string][]string{
		"signing-key":          {"sign=cosign-sign"},
		"identity-token":       {"sign=cosign-sign"},
		"status-token":         {"report=report-status"},
		"registry-credentials": {"build-buildpacks=buildpacks-build", "build-dockerfile=kaniko-build", "build-ko=go-build", "image=read-image", "reuse=reuse-image", "scan=trivy-scan", "sign=cosign-sign"},
	}
	for _, name := range pipelines.Names() {
		p, err := pipelines.Pipeline(name)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]string{}
		for _, pt := range append(append([]tektonv1.PipelineTask{}, p.Spec.Tasks...), p.Spec.Finally...) {
			for _, b := range pt.Workspaces {
				got[b.Workspace] = append(got[b.Workspace], pt.Name+"="+pt.TaskRef.Name)
			}
		}
		for ws, tasks := range want {
			sort.Strings(got[ws])
			if !slices.Equal(got[ws], tasks) {
				t.Errorf("%s: workspace %s reaches %v, want %v", name, ws, got[ws], tasks)
			}
		}
	}
}

// TestCredentialSplitCatchesLeaks proves the checks above fail on the leaks they are for.
func TestCredentialSplitCatchesLeaks(t *testing.T) {
	parseTask := func(s string) *tektonv1.TaskSpec {
		var ts tektonv1.TaskSpec
		if err := yaml.UnmarshalStrict([]byte(s), &ts); err != nil {
			t.Fatal(err)
		}
		return &ts
	}
	taskLeaks := []struct{ name, task, spec, want string }{
		{"key workspace on a build task", "go-build", "workspaces: [{name: signing-key}]\nsteps: [{name: s, image: x}]", `workspace "signing-key"`},
		{"identity token on a build task", "go-build", "workspaces: [{name: identity-token}]\nsteps: [{name: s, image: x}]", `workspace "identity-token"`},
		{"registry credentials on detect", "detect", "workspaces: [{name: registry-credentials}]\nsteps: [{name: s, image: x}]", `workspace "registry-credentials"`},
		{"secret env", "go-build", "steps: [{name: s, image: x, env: [{name: P, valueFrom: {secretKeyRef: {name: k, key: cosign.password}}}]}]", `reads Secret "k"`},
		{"envFrom secret", "go-build", "steps: [{name: s, image: x, envFrom: [{secretRef: {name: git}}]}]", `envFrom Secret "git"`},
		{"kubeconfig env", "go-build", "steps: [{name: s, image: x, env: [{name: KUBECONFIG, value: /k}]}]", "sets env KUBECONFIG"},
		{"docker config elsewhere", "go-build", "workspaces: [{name: registry-credentials}]\nsteps: [{name: s, image: x, env: [{name: DOCKER_CONFIG, value: /root/.docker}]}]", "sets env DOCKER_CONFIG"},
		{"docker config on a task without the credentials", "detect", "steps: [{name: s, image: x, env: [{name: DOCKER_CONFIG, value: $(workspaces.registry-credentials.path)}]}]", "sets env DOCKER_CONFIG"},
		{"registry credentials never read", "trivy-scan", "workspaces: [{name: registry-credentials}]\nsteps: [{name: s, image: x}]", "no step reads it as DOCKER_CONFIG"},
		{"secret volume", "go-build", "volumes: [{name: v, secret: {secretName: k}}]\nsteps: [{name: s, image: x, volumeMounts: [{name: v, mountPath: /k}]}]", `volume "v"`},
	}
	for _, tc := range taskLeaks {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(checkTask(tc.task, parseTask(tc.spec)), "\n")
			if !strings.Contains(got, tc.want) {
				t.Fatalf("problems %q lack %q", got, tc.want)
			}
		})
	}
	if got := checkTask("go-build", parseTask("workspaces: [{name: registry-credentials}]\nsteps: [{name: s, image: x, env: [{name: DOCKER_CONFIG, value: $(workspaces.registry-credentials.path)}]}]")); len(got) > 0 {
		t.Errorf("the registry credentials as they are meant to be used: %v", got)
	}

	var p tektonv1.Pipeline
	if err := yaml.UnmarshalStrict([]byte(`
metadata: {name: leaky}
spec:
  workspaces: [{name: source}, {name: signing-key}, {name: kubeconfig}, {name: registry-credentials}]
  tasks:
    - {name: build, taskRef: {name: go-build}, workspaces: [{name: source, workspace: signing-key}]}
    - {name: sign, taskRef: {name: cosign-sign}, workspaces: [{name: signing-key, workspace: signing-key}, {name: registry-credentials, workspace: registry-credentials}]}
    - {name: detect, taskRef: {name: detect}, workspaces: [{name: source, workspace: registry-credentials}]}
    - {name: report, taskRef: {name: report-status}, workspaces: [{name: credentials, workspace: source}]}
    - {name: deploy, taskSpec: {workspaces: [{name: kube}], steps: [{name: s, image: x}]}, workspaces: [{name: kube, workspace: kubeconfig}]}
`), &p); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(checkPipeline(&p, catalogTaskSpec), "\n")
	for _, want := range []string{
		`the image signing key (workspace "signing-key") reaches go-build/source`,
		`the registry credentials (workspace "registry-credentials") reaches detect/source`,
		`the registry credentials (workspace "registry-credentials") does not reach go-build/registry-credentials`,
		`workspace "source" reaches report-status/credentials, which is for the Git provider's commit-status token only`,
		`workspace "kubeconfig" looks like a credential`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems %q lack %q", got, want)
		}
	}
}

// TestStepsDoNotInheritCredentials runs a step the way the local runner does while the runner's
// own environment holds the signing key password, a kubeconfig and registry credentials: the
// step sees none of them.
func TestStepsDoNotInheritCredentials(t *testing.T) {
	secrets := map[string]string{
		"COSIGN_PASSWORD": "runner-signing-password",
		"KUBECONFIG":      "/runner/kubeconfig",
		"DOCKER_CONFIG":   "/runner/docker",
		"GIT_ASKPASS":     "/runner/askpass",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	var out bytes.Buffer
	h := &localrunner.HostSteps{AllowHostSteps: true}
	code, err := h.RunStep(t.Context(), localrunner.StepExec{
		TaskRun: "credentials", Name: "env", Image: "example.com/any:1", Script: "env",
		Dir: t.TempDir(), Env: []string{"OWN=1"}, Home: t.TempDir(), ScriptDir: t.TempDir(), Log: &out,
	})
	if err != nil || code != 0 {
		t.Fatalf("step: code %d, %v\n%s", code, err, out.String())
	}
	if !strings.Contains(out.String(), "OWN=1") {
		t.Fatalf("step environment lacks its own variable:\n%s", out.String())
	}
	for k, v := range secrets {
		if strings.Contains(out.String(), k+"=") || strings.Contains(out.String(), v) {
			t.Errorf("step inherited %s from the runner", k)
		}
	}
}
