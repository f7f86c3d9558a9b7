// Downloads one URL as fast as it is served and reports the byte count to the parent process.
const response = await fetch(process.argv[2]);
let bytes = 0;
for await (const chunk of response.body) bytes += chunk.length;
process.send(bytes, () => process.exit(0));
