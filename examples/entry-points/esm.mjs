// Every entry point through `import`: the names each one exports at run time.
import * as main from 'im-rate-limit';
import * as catalog from 'im-rate-limit/catalog';
import * as nestjs from 'im-rate-limit/nestjs';
import * as store from 'im-rate-limit/store';

const names = (entry) =>
  Object.keys(entry)
    .filter((name) => name !== 'default')
    .sort();
console.log(JSON.stringify({ main: names(main), catalog: names(catalog), store: names(store), nestjs: names(nestjs) }));
