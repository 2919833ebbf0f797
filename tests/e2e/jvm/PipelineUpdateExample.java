// Mirrors "Managing Active Status" (Scala object PipelineUpdateExample) of the Pipeline Management
// guide, in Java with the same JDK HttpClient calls. play-json is replaced by a JSON string; the
// base URL comes from args[0] and each answer's status is printed as status=NNN.
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

public class PipelineUpdateExample {
    public static void main(String[] args) throws Exception {
        String base = args.length > 0 ? args[0] : "http://localhost:8000";
        HttpClient client = HttpClient.newHttpClient();
        String json = "{\"id\": 1, \"active\": true}";
        HttpRequest request = HttpRequest.newBuilder()
            .uri(URI.create(base + "/pipeline"))
            .header("Content-Type", "application/json")
            .method("PATCH", HttpRequest.BodyPublishers.ofString(json))
            .build();
        HttpResponse<String> response = client.send(request,
            HttpResponse.BodyHandlers.ofString());
        System.out.println("status=" + response.statusCode());
        System.out.println(response.body());
    }
}
