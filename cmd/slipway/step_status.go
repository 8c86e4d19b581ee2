package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"slipway.dev/slipway/engine/status"
)

func newReportStatusStep() *cobra.Command {
	var r status.Report
	var state, tokenFile, apiURL string
	cmd := &cobra.Command{
		Use:   "report-status",
		Short: "Report a pipeline's outcome to the Git provider as a commit status",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := status.FromTekton(state)
			if err != nil {
				return fmt.Errorf("--state: %w", err)
			}
			r.State = st
			token, err := readToken(tokenFile)
			if err != nil {
				return err
			}
			if token == "" {
				fmt.Fprintf(cmd.OutOrStdout(), "no provider token (%s is empty or missing): commit status %q not reported\n", tokenFile, st)
				return nil
			}
			c := &status.Client{Token: token, APIURL: apiURL}
			if err := c.Post(cmd.Context(), r); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "reported %s %q on %s\n", r.Context, st, r.SHA)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&r.Provider, "provider", "", "github, gitlab, gitea, forgejo or bitbucket")
	f.StringVar(&r.RepoURL, "repo-url", "", "repository URL")
	f.StringVar(&r.SHA, "sha", "", "full commit SHA")
	f.StringVar(&state, "state", "", "Tekton's $(tasks.status) (Succeeded, Completed, Failed, None) or pending, success, failure, error")
	f.StringVar(&r.Context, "context", "slipway", "status context (the check's name)")
	f.StringVar(&r.Description, "description", "", "short description")
	f.StringVar(&r.TargetURL, "target-url", "", "link to the run")
	f.StringVar(&tokenFile, "token-file", "", "file holding the provider API token; empty or missing skips reporting")
	f.StringVar(&apiURL, "api-url", "", "provider API base URL (default: derived from the repository URL)")
	return cmd
}

// readToken reads a token file; a missing file (an unbound optional workspace) is no token.
func readToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
