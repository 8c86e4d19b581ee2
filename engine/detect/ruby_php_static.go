package detect

import (
	"context"
	"fmt"
	"strings"
)

func detectRuby(ctx context.Context, s *source, c Choice) (*candidate, error) {
	data, err := s.readOptional("Gemfile")
	if err != nil || data == nil {
		return nil, err
	}
	file := s.name("Gemfile")
	g, err := parseGemfile(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	r := &Result{Language: LangRuby, Component: ComponentService, BuildCommand: "bundle install"}
	reason := "Gemfile"
	if g.Ruby != "" {
		reason += ", ruby " + g.Ruby
	}
	r.note(DecisionLanguage, file, 0, "%s", reason)
	switch {
	case g.Gems["rails"] > 0:
		r.Framework, r.Port = "rails", 3000
		r.note(DecisionFramework, file, g.Gems["rails"], "gem rails")
		r.BuildCommand += " && bundle exec rails assets:precompile"
		r.RunCommand = "bundle exec rails server -b 0.0.0.0 -p 3000"
	case s.isFile("config.ru"):
		if line := g.Gems["sinatra"]; line > 0 {
			r.Framework = "sinatra"
			r.note(DecisionFramework, file, line, "gem sinatra")
		}
		r.Port = 9292
		server := "rackup --host 0.0.0.0 --port 9292"
		if g.Gems["puma"] > 0 {
			server = "puma --bind tcp://0.0.0.0:9292"
		}
		r.RunCommand = "bundle exec " + server + " config.ru"
		r.note(DecisionRun, s.name("config.ru"), 0, "a Rack app")
	case g.Gems["sinatra"] > 0:
		r.Framework, r.Port = "sinatra", 4567
		r.note(DecisionFramework, file, g.Gems["sinatra"], "gem sinatra")
		entry := firstFile(s, "app.rb", "main.rb", "server.rb")
		if entry == "" {
			entry = "app.rb"
		}
		r.RunCommand = "bundle exec ruby " + entry + " -o 0.0.0.0 -p 4567"
	default:
		r.Component = ComponentWorker
		r.note(DecisionComponent, file, 0, "worker: no Rails, Sinatra or config.ru")
		return &candidate{res: r}, nil
	}
	r.note(DecisionComponent, "", 0, "service: a web framework")
	r.note(DecisionPort, "", 0, "%d, the port the run command binds", r.Port)
	return &candidate{res: r}, nil
}

// phpFrameworks maps a composer package to a framework and whether it serves from public/.
var phpFrameworks = []struct{ pkg, name string }{
	{"laravel/framework", "laravel"},
	{"symfony/framework-bundle", "symfony"},
	{"slim/slim", "slim"},
}

func detectPHP(ctx context.Context, s *source, c Choice) (*candidate, error) {
	data, err := s.readOptional("composer.json")
	if err != nil {
		return nil, err
	}
	index := firstFile(s, "index.php", "public/index.php")
	if data == nil && index == "" {
		return nil, nil
	}
	r := &Result{Language: LangPHP, Component: ComponentService, Port: defaultPort}
	if data != nil {
		file := s.name("composer.json")
		comp, err := parseComposer(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		r.note(DecisionLanguage, file, 0, "composer.json")
		r.BuildCommand = "composer install --no-dev --optimize-autoloader"
		for _, fw := range phpFrameworks {
			if _, ok := comp.Require[fw.pkg]; ok {
				r.Framework = fw.name
				r.note(DecisionFramework, file, jsonKeyLine(data, fw.pkg), "requires %s", fw.pkg)
				break
			}
		}
	} else {
		r.note(DecisionLanguage, s.name(index), 0, "index.php")
	}
	docroot := "."
	if strings.HasPrefix(index, "public/") {
		docroot = "public"
	}
	r.RunCommand = fmt.Sprintf("php -S 0.0.0.0:%d -t %s", defaultPort, docroot)
	if index != "" {
		r.note(DecisionRun, s.name(index), 0, "the front controller; document root %s", docroot)
	}
	r.note(DecisionComponent, "", 0, "service: PHP serves HTTP")
	r.note(DecisionPort, "", 0, "%d, the PHP web server's port", defaultPort)
	return &candidate{res: r}, nil
}

func detectStatic(ctx context.Context, s *source, c Choice) (*candidate, error) {
	index := firstFile(s, "index.html", "public/index.html")
	if index == "" {
		return nil, nil
	}
	r := &Result{Language: LangStatic, Component: ComponentStaticSite, Port: defaultPort}
	r.note(DecisionLanguage, s.name(index), 0, "index.html and no server-side language")
	docroot := "."
	if strings.HasPrefix(index, "public/") {
		docroot = "public"
	}
	r.RunCommand = "serve " + docroot + " with a static web server"
	r.note(DecisionComponent, s.name(index), 0, "static-site: HTML served as files")
	r.note(DecisionPort, "", 0, "%d, the static web server's port", defaultPort)
	return &candidate{res: r, weak: true}, nil
}
