// The few steps of a request that are cheaper in JavaScript than across the wasm
// boundary one call at a time (see src/reply.rs and src/origin.rs).

/** A response from a status, its body bytes (copied) and its headers as "name\nvalue\n…". */
export function respond(status, body, headers) {
  const h = new Headers();
  const parts = headers.split("\n");
  for (let i = 0; i + 1 < parts.length; i += 2) h.append(parts[i], parts[i + 1]);
  return new Response(body.length === 0 ? null : body.slice(), { status, headers: h });
}

/** `answer` settled through `judge(response, true)` or `judge(error, false)`. */
export function passOrigin(answer, judge) {
  return answer.then(
    (response) => judge(response, true),
    (error) => judge(error, false),
  );
}
