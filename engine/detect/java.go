package detect

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"path"
	"regexp"
	"strings"
)

// springPortRE finds server.port in application.properties.
var springPortRE = regexp.MustCompile(`^\s*server\.port\s*[=:]\s*(\d{2,5})\s*$`)

func detectJava(ctx context.Context, s *source, c Choice) (*candidate, error) {
	r := &Result{Language: LangJava, Component: ComponentService, Port: defaultPort}
	spring, web := false, false
	switch {
	case s.isFile("pom.xml"):
		file := s.name("pom.xml")
		data, err := s.read("pom.xml")
		if err != nil {
			return nil, err
		}
		p, err := parsePom(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		r.note(DecisionLanguage, file, 0, "Maven project %s", p.ArtifactID)
		mvn := "mvn"
		if s.isFile("mvnw") {
			mvn = "./mvnw"
		}
		r.BuildCommand = mvn + " -DskipTests package"
		jar := p.ArtifactID + ".jar"
		if p.Version != "" {
			jar = p.ArtifactID + "-" + p.Version + ".jar"
		}
		r.RunCommand = "java -jar target/" + jar
		if spring = p.springBoot(); spring {
			r.note(DecisionFramework, file, xmlLine(data, "org.springframework.boot"), "Spring Boot (org.springframework.boot)")
		}
		for _, d := range p.Dependencies {
			web = web || d.ArtifactID == "spring-boot-starter-web" || d.ArtifactID == "spring-boot-starter-webflux"
		}
	case s.isFile("build.gradle") || s.isFile("build.gradle.kts"):
		name := "build.gradle"
		if !s.isFile(name) {
			name = "build.gradle.kts"
		}
		file := s.name(name)
		data, err := s.read(name)
		if err != nil {
			return nil, err
		}
		g, err := parseGradle(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		r.note(DecisionLanguage, file, 0, "Gradle build")
		gradle := "gradle"
		if s.isFile("gradlew") {
			gradle = "./gradlew"
		}
		r.BuildCommand = gradle + " build -x test"
		r.RunCommand = "java -jar build/libs/" + gradleProjectName(s) + ".jar"
		if spring = g.SpringBoot > 0; spring {
			r.note(DecisionFramework, file, g.SpringBoot, "Spring Boot (org.springframework.boot)")
		} else if line, ok := g.Plugins["application"]; ok {
			r.note(DecisionRun, file, line, "the application plugin, main class %s", g.MainClass)
			r.RunCommand = "build/install/" + gradleProjectName(s) + "/bin/" + gradleProjectName(s)
		}
		web = bytes.Contains(data, []byte("spring-boot-starter-web"))
	default:
		return nil, nil
	}
	if spring {
		r.Framework = "spring-boot"
		if !web {
			r.Component, r.Port = ComponentWorker, 0
			r.note(DecisionComponent, "", 0, "worker: Spring Boot without spring-boot-starter-web(flux)")
			return &candidate{res: r}, nil
		}
		r.note(DecisionComponent, "", 0, "service: spring-boot-starter-web")
		props := "src/main/resources/application.properties"
		if data, err := s.readOptional(props); err != nil {
			return nil, err
		} else if data != nil {
			if p, line := findLinePort(data, springPortRE); p > 0 {
				r.Port = p
				r.note(DecisionPort, s.name(props), line, "%d, server.port", p)
				return &candidate{res: r}, nil
			}
		}
		r.note(DecisionPort, "", 0, "%d, the Spring Boot default", r.Port)
		return &candidate{res: r}, nil
	}
	r.note(DecisionComponent, "", 0, "service: a Java application with no framework that says otherwise")
	r.note(DecisionPort, "", 0, "%d, the platform default (the app should listen on $PORT)", r.Port)
	return &candidate{res: r}, nil
}

func findLinePort(data []byte, re *regexp.Regexp) (int, int) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), MaxFileSize)
	for n := 1; sc.Scan(); n++ {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			if p, ok := validPort(m[1]); ok {
				return p, n
			}
		}
	}
	return 0, 0
}

func xmlLine(data []byte, needle string) int {
	i := bytes.Index(data, []byte(needle))
	if i < 0 {
		return 0
	}
	return bytes.Count(data[:i], []byte("\n")) + 1
}

var settingsNameRE = regexp.MustCompile(`rootProject\.name\s*=\s*["']([^"']+)["']`)

// gradleProjectName is rootProject.name from settings.gradle(.kts), else the directory's name.
func gradleProjectName(s *source) string {
	for _, n := range []string{"settings.gradle", "settings.gradle.kts"} {
		if data, err := s.readOptional(n); err == nil && data != nil {
			if m := settingsNameRE.FindSubmatch(data); m != nil {
				return strings.TrimSpace(string(m[1]))
			}
		}
	}
	if s.dir == "." {
		return "app"
	}
	return path.Base(s.dir)
}
