// Every entry point through require(), as Node >= 20.19 and 22.12 load an ES module: the names each one exports.
const main = require('im-rate-limit');
const catalog = require('im-rate-limit/catalog');
const nestjs = require('im-rate-limit/nestjs');
const store = require('im-rate-limit/store');

const names = (entry) =>
  Object.keys(entry)
    .filter((name) => name !== 'default' && name !== '__esModule' && name !== 'module.exports')
    .sort();
console.log(JSON.stringify({ main: names(main), catalog: names(catalog), store: names(store), nestjs: names(nestjs) }));
