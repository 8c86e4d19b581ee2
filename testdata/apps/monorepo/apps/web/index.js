const fastify = require("fastify")();
fastify.get("/", async () => "web");
fastify.listen({ port: Number(process.env.PORT) || 3000, host: "0.0.0.0" });
