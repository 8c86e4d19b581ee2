package devenv

import (
	"context"
	"errors"
	"fmt"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/configrepo"
	"slipway.dev/slipway/engine/deploy"
	"slipway.dev/slipway/engine/manifest"
	"slipway.dev/slipway/engine/render"
)

// renderer maps an Application onto the renderer's input.
type renderer struct{}

func (renderer) Render(_ context.Context, app *v1alpha1.Application, env v1alpha1.Environment, image string) ([]manifest.File, error) {
	in := render.Input{
		App:       app.Name,
		Env:       env.Name,
		Namespace: deploy.Namespace(app, env),
		Image:     image,
	}
	for _, s := range app.Spec.Services {
		rs := render.Service{Name: s.Name, Port: s.Port, Replicas: 1, HealthPath: s.HealthPath, Resources: s.Resources}
		if s.Replicas != nil {
			rs.Replicas = *s.Replicas
		}
		for _, e := range s.Env {
			rs.Env = append(rs.Env, render.EnvVar{Name: e.Name, Value: e.Value})
		}
		in.Services = append(in.Services, rs)
	}
	return render.Render(in)
}

// committer writes deploy commits to one branch of the config repo.
type committer struct {
	w      *configrepo.Writer
	branch string
}

func (c committer) Commit(ctx context.Context, d deploy.Commit) (string, error) {
	ch := configrepo.Change{Branch: c.branch, Dir: d.Dir, Files: d.Files, Subject: d.Subject}
	for _, t := range d.Trailers {
		if t[1] != "" {
			ch.Trailers = append(ch.Trailers, configrepo.Trailer{Key: t[0], Value: t[1]})
		}
	}
	res, err := c.w.Commit(ctx, ch)
	if errors.Is(err, configrepo.ErrNoChanges) {
		return res.Commit, nil // already committed, for example before a crash
	}
	if err != nil {
		return "", fmt.Errorf("config repo: %w", err)
	}
	return res.Commit, nil
}
