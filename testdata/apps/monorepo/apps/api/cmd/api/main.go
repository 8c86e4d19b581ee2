// Command api serves the monorepo's API.
package main

import (
	"net/http"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("api\n")) })
	http.ListenAndServe(":9000", nil)
}
