package registry

import (
	"context"
	"io"
	"log/slog"
	"reflect"

	"github.com/sirupsen/logrus"
)

// distribution logs through logrus. Unless a context carries its own logger, every entry goes to
// the process-wide logrus.StandardLogger, which this package must not reconfigure (other code in
// the process may use it). distribution reads the logger from the context under a key type that
// lives in its internal dcontext package, so no exported function can set it; loggerContext
// answers that one key with a logger of our own. If a later distribution release renames the key,
// entries fall back to the standard logger: noisier, never wrong. TestLogsStayOffStandardLogger
// catches that.
const (
	dcontextPkgPath = "github.com/distribution/distribution/v3/internal/dcontext"
	loggerKeyName   = "loggerKey"
)

type loggerContext struct {
	context.Context
	entry *logrus.Entry
}

func withLogger(ctx context.Context, entry *logrus.Entry) context.Context {
	return loggerContext{Context: ctx, entry: entry}
}

func (c loggerContext) Value(key any) any {
	if t := reflect.TypeOf(key); t != nil && t.Name() == loggerKeyName && t.PkgPath() == dcontextPkgPath {
		return c.entry
	}
	return c.Context.Value(key)
}

// newLogrusLogger returns a private logrus logger whose entries go to logger. distribution logs
// every client error, such as the 404 for a HEAD on a blob a client is about to push, at logrus's
// error level, so error and warning both map to slog's Warn; info and below map to Debug.
func newLogrusLogger(ctx context.Context, logger *slog.Logger) *logrus.Entry {
	level := logrus.WarnLevel
	if logger.Enabled(ctx, slog.LevelDebug) {
		level = logrus.DebugLevel
	}
	l := &logrus.Logger{
		Out:          io.Discard,
		Formatter:    noFormat{},
		Hooks:        logrus.LevelHooks{},
		Level:        level,
		ExitFunc:     func(int) {},
		ReportCaller: false,
	}
	l.AddHook(slogHook{logger: logger.With("component", "registry")})
	return logrus.NewEntry(l)
}

type slogHook struct{ logger *slog.Logger }

func (slogHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h slogHook) Fire(e *logrus.Entry) error {
	level := slog.LevelDebug
	switch {
	case e.Level <= logrus.FatalLevel:
		level = slog.LevelError
	case e.Level <= logrus.WarnLevel:
		level = slog.LevelWarn
	}
	ctx := e.Context // usually nil, which slog accepts
	if !h.logger.Enabled(ctx, level) {
		return nil
	}
	attrs := make([]slog.Attr, 0, len(e.Data))
	for k, v := range e.Data {
		attrs = append(attrs, slog.Any(k, v))
	}
	h.logger.LogAttrs(ctx, level, e.Message, attrs...)
	return nil
}

// noFormat skips formatting: the hook has already forwarded the entry.
type noFormat struct{}

func (noFormat) Format(*logrus.Entry) ([]byte, error) { return nil, nil }
