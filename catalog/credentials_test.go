package catalog_test

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"slipway.dev/slipway/catalog"
	"slipway.dev/slipway/engine/localrunner"
	"slipway.dev/slipway/pipelines"
)

// The credential split: the signing key reaches the cosign-sign task only; no task gets the
// config-repo or cluster credentials (the engine writes the config repo and talks to the
// cluster itself). Every credential a task may see arrives through a workspace listed here,
// bound by the PipelineRun to exactly one task.

// signingKeyWorkspace is cosign-sign's workspace for the signing key Secret.
const signingKeyWorkspace = "signing-key"

// credentialWorkspaces maps "task/workspace" to what it carries; no other task workspace may
// carry a Secret.
var credentialWorkspaces = map[string]string{
	"cosign-sign/" + signingKeyWorkspace: "the image signing key",
	"cosign-sign/identity-token":         "the OIDC identity token Fulcio certifies keyless signing keys for",
	"report-status/credentials":          "the Git provider's commit-status token",
}

// credentialName matches names that suggest key material or credentials.
var credentialName = regexp.MustCompile(`(?i)key|secret|credential|token|passw|kubeconfig|ssh|docker-?config|auth|cert`)

// forbiddenEnv are variables through which a step could get the signing key, the config repo
// or the cluster.
var forbiddenEnv = regexp.MustCompile(`(?i)^(COSIGN_|SIGSTORE_|KUBECONFIG$|KUBERNETES_|GIT_ASKPASS$|GIT_SSH|SSH_AUTH_SOCK$|DOCKER_CONFIG$)`)

// checkTask returns every way task (its spec) could see a credential it must not.
func checkTask(task string, ts *tektonv1.TaskSpec) []string {
	var bad []string
	for _, w := range ts.Workspaces {
		key := task + "/" + w.Name
		if _, ok := credentialWorkspaces[key]; ok {
			continue
		}
		if credentialName.MatchString(w.Name) || w.Name == signingKeyWorkspace {
			bad = append(bad, fmt.Sprintf("%s: workspace %q looks like a credential but is not in credentialWorkspaces", task, w.Name))
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
	for where, c := range containers {
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				bad = append(bad, fmt.Sprintf("%s %s: env %s reads Secret %q", task, where, e.Name, e.ValueFrom.SecretKeyRef.Name))
			}
			if forbiddenEnv.MatchString(e.Name) {
				bad = append(bad, fmt.Sprintf("%s %s: sets env %s", task, where, e.Name))
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
	return bad
}

// checkPipeline returns every way p hands a credential workspace to more than its one task,
// and every inline task spec that breaks checkTask.
func checkPipeline(p *tektonv1.Pipeline, taskSpec func(name string) (*tektonv1.TaskSpec, error)) []string {
	var bad []string
	users := map[string][]string{} // pipeline workspace -> "task/workspace" bound to it
	for _, pt := range append(append([]tektonv1.PipelineTask{}, p.Spec.Tasks...), p.Spec.Finally...) {
		name, ts := pt.Name, (*tektonv1.TaskSpec)(nil)
		switch {
		case pt.TaskRef != nil:
			name = pt.TaskRef.Name
			var err error
			if ts, err = taskSpec(name); err != nil {
				bad = append(bad, fmt.Sprintf("%s: pipeline task %s: %v", p.Name, pt.Name, err))
				continue
			}
		case pt.TaskSpec != nil:
			ts = &pt.TaskSpec.TaskSpec
			bad = append(bad, checkTask(p.Name+"/"+pt.Name, ts)...)
		}
		for _, b := range pt.Workspaces {
			users[b.Workspace] = append(users[b.Workspace], name+"/"+b.Name)
		}
	}
	for _, w := range p.Spec.Workspaces {
		u := users[w.Name]
		secret := false
		for _, tw := range u {
			_, ok := credentialWorkspaces[tw]
			secret = secret || ok
		}
		if (secret || credentialName.MatchString(w.Name)) && len(u) > 1 {
			bad = append(bad, fmt.Sprintf("%s: credential workspace %q is bound to %v; one task only", p.Name, w.Name, u))
		}
		if secret && !credentialName.MatchString(w.Name) {
			bad = append(bad, fmt.Sprintf("%s: workspace %q carries a credential (%v) but its name does not say so", p.Name, w.Name, u))
		}
		for _, tw := range u {
			if credentialName.MatchString(w.Name) && credentialWorkspaces[tw] == "" {
				bad = append(bad, fmt.Sprintf("%s: credential workspace %q reaches %s", p.Name, w.Name, tw))
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
	for tw := range credentialWorkspaces {
		if !declared[tw] {
			t.Errorf("credential workspace %s is listed but no task declares it", tw)
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

// TestCredentialSplitCatchesLeaks proves the checks above fail on the leaks they are for.
func TestCredentialSplitCatchesLeaks(t *testing.T) {
	parseTask := func(s string) *tektonv1.TaskSpec {
		var ts tektonv1.TaskSpec
		if err := yaml.UnmarshalStrict([]byte(s), &ts); err != nil {
			t.Fatal(err)
		}
		return &ts
	}
	taskLeaks := []struct{ name, spec, want string }{
		{"key workspace on a build task", "workspaces: [{name: signing-key}]\nsteps: [{name: s, image: x}]", `workspace "signing-key"`},
		{"identity token on a build task", "workspaces: [{name: identity-token}]\nsteps: [{name: s, image: x}]", `workspace "identity-token"`},
		{"secret env", "steps: [{name: s, image: x, env: [{name: P, valueFrom: {secretKeyRef: {name: k, key: cosign.password}}}]}]", `reads Secret "k"`},
		{"envFrom secret", "steps: [{name: s, image: x, envFrom: [{secretRef: {name: git}}]}]", `envFrom Secret "git"`},
		{"kubeconfig env", "steps: [{name: s, image: x, env: [{name: KUBECONFIG, value: /k}]}]", "sets env KUBECONFIG"},
		{"secret volume", "volumes: [{name: v, secret: {secretName: k}}]\nsteps: [{name: s, image: x, volumeMounts: [{name: v, mountPath: /k}]}]", `volume "v"`},
	}
	for _, tc := range taskLeaks {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(checkTask("go-build", parseTask(tc.spec)), "\n")
			if !strings.Contains(got, tc.want) {
				t.Fatalf("problems %q lack %q", got, tc.want)
			}
		})
	}

	var p tektonv1.Pipeline
	if err := yaml.UnmarshalStrict([]byte(`
metadata: {name: leaky}
spec:
  workspaces: [{name: source}, {name: signing-key}, {name: kubeconfig}]
  tasks:
    - {name: build, taskRef: {name: go-build}, workspaces: [{name: source, workspace: signing-key}]}
    - {name: sign, taskRef: {name: cosign-sign}, workspaces: [{name: signing-key, workspace: signing-key}]}
    - {name: deploy, taskSpec: {workspaces: [{name: kube}], steps: [{name: s, image: x}]}, workspaces: [{name: kube, workspace: kubeconfig}]}
`), &p); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(checkPipeline(&p, catalogTaskSpec), "\n")
	for _, want := range []string{
		`credential workspace "signing-key" is bound to [go-build/source cosign-sign/signing-key]`,
		`credential workspace "signing-key" reaches go-build/source`,
		`credential workspace "kubeconfig" reaches deploy/kube`,
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
