package devenv

import (
	"log/slog"

	"github.com/go-logr/logr"
)

// logrFromSlog adapts a slog.Logger for libraries that log through logr.
func logrFromSlog(l *slog.Logger) logr.Logger { return logr.FromSlogHandler(l.Handler()) }
