// Command ambiguous shares its directory with a Node.js server.
package main

import "net/http"

func main() { http.ListenAndServe(":8080", nil) }
