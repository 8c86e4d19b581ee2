plugins {
    application
    id("java")
}

repositories {
    mavenCentral()
}

application {
    mainClass.set("com.example.App")
}
