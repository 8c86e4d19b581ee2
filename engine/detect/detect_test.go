package detect_test

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/detect"
	"slipway.dev/slipway/internal/golden"
)

var update = flag.Bool("update", false, "rewrite golden files")

const apps = "../../testdata/apps"

type outcome struct {
	Result *detect.Result `json:"result,omitempty"`
	Error  string         `json:"error,omitempty"`
}

type sample struct {
	name     string
	app      string
	path     string
	choice   detect.Choice
	strategy string // want, for results
	language string
	port     int
	wantErr  error
	errText  string // the error must contain it
	optional bool   // the app may not exist yet
}

// samples lists every sample app; dockerfile-hello and buildpacks-hello are added by their own
// builders and covered when present.
var samples = []sample{
	{name: "go-hello", app: "go-hello", strategy: "ko", language: "go", port: 8080},
	{name: "hello", app: "hello", strategy: "ko", language: "go", port: 8080},
	{name: "node-express", app: "node-express", strategy: "buildpacks", language: "node", port: 3000},
	{name: "python-flask", app: "python-flask", strategy: "buildpacks", language: "python", port: 8000},
	{name: "python-fastapi", app: "python-fastapi", strategy: "buildpacks", language: "python", port: 8000},
	{name: "java-maven-spring", app: "java-maven-spring", strategy: "buildpacks", language: "java", port: 8081},
	{name: "java-gradle", app: "java-gradle", strategy: "buildpacks", language: "java", port: 8080},
	{name: "ruby-sinatra", app: "ruby-sinatra", strategy: "buildpacks", language: "ruby", port: 9292},
	{name: "php-plain", app: "php-plain", strategy: "buildpacks", language: "php", port: 8080},
	{name: "static-site", app: "static-site", strategy: "buildpacks", language: "static", port: 8080},
	{name: "procfile-worker", app: "procfile-worker", strategy: "buildpacks", language: "python", port: 0},
	{name: "monorepo-api", app: "monorepo", path: "apps/api", strategy: "ko", language: "go", port: 9000},
	{name: "monorepo-web", app: "monorepo", path: "apps/web", strategy: "buildpacks", language: "node", port: 3000},
	{name: "monorepo-root", app: "monorepo", wantErr: detect.ErrUnknownSource},
	{name: "ambiguous", app: "ambiguous", wantErr: detect.ErrAmbiguousSource},
	{name: "ambiguous-buildpacks", app: "ambiguous", choice: detect.Choice{Strategy: "buildpacks"}, strategy: "buildpacks", language: "unknown", port: 8080},
	{name: "ambiguous-ko", app: "ambiguous", choice: detect.Choice{Strategy: "ko"}, strategy: "ko", language: "go", port: 8080},
	{name: "dockerfile-missing", app: "go-hello", choice: detect.Choice{Strategy: "dockerfile"}, wantErr: detect.ErrStrategyMismatch},
	{name: "ko-not-go", app: "node-express", choice: detect.Choice{Strategy: "ko"}, wantErr: detect.ErrStrategyMismatch},
	{name: "buildpacks-go", app: "go-hello", choice: detect.Choice{Strategy: "buildpacks"}, strategy: "buildpacks", language: "go", port: 8080},
	{name: "go-package-chosen", app: "monorepo", path: "apps/api", choice: detect.Choice{GoPackage: "./cmd/migrate"}, strategy: "ko", language: "go"},
	{name: "go-package-missing", app: "monorepo", path: "apps/api", choice: detect.Choice{GoPackage: "./cmd/nope"}, wantErr: detect.ErrStrategyMismatch},
	{name: "no-such-path", app: "monorepo", path: "apps/nope", errText: "no such directory"},
	{name: "dockerfile-hello", app: "dockerfile-hello", strategy: "dockerfile", optional: true},
	{name: "buildpacks-hello", app: "buildpacks-hello", strategy: "buildpacks", optional: true},
}

func TestDetectSamples(t *testing.T) {
	ctx := context.Background()
	for _, tc := range samples {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(apps, tc.app)
			if _, err := os.Stat(dir); tc.optional && errors.Is(err, os.ErrNotExist) {
				t.Skipf("%s is not there yet", dir)
			}
			res, err := detect.Decide(ctx, dir, tc.path, tc.choice)
			var out outcome
			switch {
			case tc.wantErr != nil || tc.errText != "":
				if err == nil {
					t.Fatalf("got %+v, want an error", res)
				}
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Errorf("err = %v, want %v", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.errText) {
					t.Errorf("err = %v, want it to say %q", err, tc.errText)
				}
				out.Error = err.Error()
			case err != nil:
				t.Fatal(err)
			default:
				checkResult(t, tc, res)
				out.Result = res
			}
			if tc.optional {
				return // not ours to keep a golden file for
			}
			golden.Check(t, filepath.Join("testdata", "golden", tc.name+".json"), golden.JSON(t, out), *update)
		})
	}
}

func checkResult(t *testing.T, tc sample, res *detect.Result) {
	t.Helper()
	if res.Strategy != tc.strategy {
		t.Errorf("strategy = %q, want %q", res.Strategy, tc.strategy)
	}
	if tc.language != "" && res.Language != tc.language {
		t.Errorf("language = %q, want %q", res.Language, tc.language)
	}
	if !tc.optional && res.Port != tc.port && tc.name != "go-package-chosen" {
		t.Errorf("port = %d, want %d", res.Port, tc.port)
	}
	if res.Component == "" {
		t.Error("no component")
	}
	decided := map[string]bool{}
	for _, e := range res.Evidence {
		decided[e.Decision] = true
	}
	for _, d := range []string{detect.DecisionLanguage, detect.DecisionStrategy, detect.DecisionComponent} {
		if !decided[d] {
			t.Errorf("no evidence for %s: %v", d, res.Evidence)
		}
	}
	if res.Port > 0 && !decided[detect.DecisionPort] {
		t.Errorf("port %d without evidence", res.Port)
	}
}

// TestStrategiesMatchTheAPI keeps detect's strategy names those of spec.build.strategy.
func TestStrategiesMatchTheAPI(t *testing.T) {
	pairs := [][2]string{
		{detect.StrategyAuto, v1alpha1.BuildAuto},
		{detect.StrategyBuildpacks, v1alpha1.BuildBuildpacks},
		{detect.StrategyDockerfile, v1alpha1.BuildDockerfile},
		{detect.StrategyKo, v1alpha1.BuildKo},
	}
	for _, p := range pairs {
		if p[0] != p[1] {
			t.Errorf("detect strategy %q, API strategy %q", p[0], p[1])
		}
	}
}

func BenchmarkDetect(b *testing.B) {
	ctx := context.Background()
	for _, tc := range samples {
		if tc.wantErr != nil || tc.errText != "" || tc.choice != (detect.Choice{}) {
			continue
		}
		dir := filepath.Join(apps, tc.app)
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := detect.Detect(ctx, dir, tc.path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
